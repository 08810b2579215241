
CREATE TABLE alerts_sent (
	run_id VARCHAR(36) NOT NULL, 
	kind VARCHAR(64) NOT NULL, 
	sent_at DATETIME NOT NULL, 
	PRIMARY KEY (run_id, kind)
)


;

CREATE TABLE api_tokens (
	id VARCHAR(36) NOT NULL, 
	name VARCHAR(200) NOT NULL, 
	client VARCHAR(200) NOT NULL, 
	scope VARCHAR(16) NOT NULL, 
	token_hash VARCHAR(64) NOT NULL, 
	created_at DATETIME NOT NULL, 
	created_by VARCHAR(200), 
	last_used_at DATETIME, 
	revoked_at DATETIME, 
	PRIMARY KEY (id), 
	UNIQUE (name), 
	UNIQUE (token_hash)
)


;

CREATE TABLE asset_events (
	id INTEGER NOT NULL, 
	asset VARCHAR(500) NOT NULL, 
	time DATETIME NOT NULL, 
	pipeline VARCHAR(200), 
	run_id VARCHAR(36), 
	task_id VARCHAR(200), 
	PRIMARY KEY (id)
)


;
CREATE INDEX ix_asset_events_asset ON asset_events (asset, time)
;
CREATE INDEX ix_asset_events_time ON asset_events (time)
;

CREATE TABLE audit_log (
	id INTEGER NOT NULL, 
	time DATETIME NOT NULL, 
	actor VARCHAR(200) NOT NULL, 
	via VARCHAR(16) NOT NULL, 
	client VARCHAR(200), 
	action VARCHAR(100) NOT NULL, 
	target VARCHAR(500), 
	"before" JSON, 
	"after" JSON, 
	PRIMARY KEY (id)
)


;
CREATE INDEX ix_audit_log_time ON audit_log (time)
;

CREATE TABLE clients (
	id VARCHAR(36) NOT NULL, 
	name VARCHAR(200) NOT NULL, 
	created_at DATETIME NOT NULL, 
	PRIMARY KEY (id), 
	UNIQUE (name)
)


;

CREATE TABLE constants (
	name VARCHAR(200) NOT NULL, 
	value TEXT NOT NULL, 
	description TEXT, 
	created_at DATETIME NOT NULL, 
	updated_at DATETIME NOT NULL, 
	PRIMARY KEY (name)
)


;

CREATE TABLE credentials (
	name VARCHAR(200) NOT NULL, 
	username VARCHAR(500), 
	fields JSON NOT NULL, 
	key_id VARCHAR(32) NOT NULL, 
	secret TEXT NOT NULL, 
	description TEXT, 
	created_at DATETIME NOT NULL, 
	updated_at DATETIME NOT NULL, 
	PRIMARY KEY (name)
)


;

CREATE TABLE data_templates (
	name VARCHAR(200) NOT NULL, 
	definition JSON NOT NULL, 
	description TEXT, 
	created_at DATETIME NOT NULL, 
	updated_at DATETIME NOT NULL, 
	PRIMARY KEY (name)
)


;

CREATE TABLE delivery_checkpoints (
	delivery VARCHAR(300) NOT NULL, 
	part VARCHAR(300) NOT NULL, 
	rows INTEGER NOT NULL, 
	bytes INTEGER NOT NULL, 
	checksum VARCHAR(100), 
	created_at DATETIME NOT NULL, 
	PRIMARY KEY (delivery, part)
)


;

CREATE TABLE destinations (
	name VARCHAR(200) NOT NULL, 
	type VARCHAR(100) NOT NULL, 
	options JSON NOT NULL, 
	credential VARCHAR(200), 
	concurrency INTEGER NOT NULL, 
	description TEXT, 
	created_at DATETIME NOT NULL, 
	updated_at DATETIME NOT NULL, 
	PRIMARY KEY (name)
)


;

CREATE TABLE events (
	id INTEGER NOT NULL, 
	time DATETIME NOT NULL, 
	level VARCHAR(10) NOT NULL, 
	pipeline VARCHAR(200), 
	run_id VARCHAR(36), 
	task_id VARCHAR(200), 
	message TEXT NOT NULL, 
	PRIMARY KEY (id)
)


;
CREATE INDEX ix_events_run ON events (run_id)
;
CREATE INDEX ix_events_time ON events (time)
;

CREATE TABLE notifications (
	id INTEGER NOT NULL, 
	created_at DATETIME NOT NULL, 
	kind VARCHAR(64) NOT NULL, 
	pipeline VARCHAR(200) NOT NULL, 
	run_id VARCHAR(36), 
	message TEXT NOT NULL, 
	data JSON NOT NULL, 
	acknowledged_at DATETIME, 
	acknowledged_by VARCHAR(200), 
	PRIMARY KEY (id)
)


;
CREATE INDEX ix_notifications_time ON notifications (created_at)
;

CREATE TABLE queue_elements (
	id INTEGER NOT NULL, 
	queue VARCHAR(200) NOT NULL, 
	reference VARCHAR(200), 
	data JSON, 
	status VARCHAR(16) NOT NULL, 
	message TEXT, 
	created_at DATETIME NOT NULL, 
	claimed_at DATETIME, 
	finished_at DATETIME, 
	created_by VARCHAR(200), 
	claimed_by VARCHAR(200), 
	seq BIGINT, 
	PRIMARY KEY (id)
)


;
CREATE INDEX ix_queue_elements_claim ON queue_elements (queue, status, id)
;
CREATE INDEX ix_queue_elements_reference ON queue_elements (queue, reference)
;
CREATE INDEX ix_queue_elements_seq ON queue_elements (queue, seq)
;

CREATE TABLE resource_leases (
	name VARCHAR(100) NOT NULL, 
	holder VARCHAR(36) NOT NULL, 
	owner VARCHAR(200), 
	run_id VARCHAR(36), 
	task_id VARCHAR(200), 
	acquired_at DATETIME NOT NULL, 
	expires_at DATETIME NOT NULL, 
	PRIMARY KEY (name)
)


;

CREATE TABLE webhook_deliveries (
	event_id VARCHAR(300) NOT NULL, 
	integration VARCHAR(100) NOT NULL, 
	received_at DATETIME NOT NULL, 
	PRIMARY KEY (event_id)
)


;
CREATE INDEX ix_webhook_deliveries_received ON webhook_deliveries (received_at)
;

CREATE TABLE connections (
	name VARCHAR(200) NOT NULL, 
	integration VARCHAR(100) NOT NULL, 
	base_url TEXT, 
	auth VARCHAR(32), 
	credential VARCHAR(200), 
	options JSON NOT NULL, 
	description TEXT, 
	created_at DATETIME NOT NULL, 
	updated_at DATETIME NOT NULL, 
	PRIMARY KEY (name), 
	FOREIGN KEY(credential) REFERENCES credentials (name)
)


;

CREATE TABLE pipelines (
	id VARCHAR(36) NOT NULL, 
	client_id VARCHAR(36) NOT NULL, 
	name VARCHAR(200) NOT NULL, 
	tags JSON NOT NULL, 
	created_at DATETIME NOT NULL, 
	updated_at DATETIME NOT NULL, 
	definition JSON NOT NULL, 
	source TEXT, 
	schedule_type INTEGER, 
	frequency INTEGER, 
	frequency_type INTEGER, 
	start_time VARCHAR(32), 
	num_tasks INTEGER NOT NULL, 
	status VARCHAR(32) NOT NULL, 
	error_message TEXT, 
	active BOOLEAN NOT NULL, 
	max_active_runs INTEGER, 
	PRIMARY KEY (id), 
	CONSTRAINT uq_pipelines_client_name UNIQUE (client_id, name), 
	FOREIGN KEY(client_id) REFERENCES clients (id)
)


;

CREATE TABLE pipeline_runs (
	id VARCHAR(36) NOT NULL, 
	pipeline_id VARCHAR(36) NOT NULL, 
	run_type VARCHAR(16) NOT NULL, 
	"trigger" VARCHAR(64) NOT NULL, 
	state VARCHAR(16) NOT NULL, 
	definition JSON NOT NULL, 
	created_at DATETIME NOT NULL, 
	started_at DATETIME, 
	ended_at DATETIME, 
	error TEXT, 
	cancel_requested BOOLEAN NOT NULL, 
	owner VARCHAR(200), 
	heartbeat_at DATETIME, 
	scheduled_at DATETIME, 
	end_seq BIGINT, 
	PRIMARY KEY (id), 
	FOREIGN KEY(pipeline_id) REFERENCES pipelines (id)
)


;
CREATE INDEX ix_pipeline_runs_created ON pipeline_runs (created_at, id)
;
CREATE INDEX ix_pipeline_runs_end_seq ON pipeline_runs (end_seq)
;
CREATE INDEX ix_pipeline_runs_pipeline ON pipeline_runs (pipeline_id, created_at)
;
CREATE INDEX ix_pipeline_runs_state ON pipeline_runs (state)
;
CREATE INDEX ix_pipeline_runs_state_created ON pipeline_runs (state, created_at, id)
;

CREATE TABLE pipeline_versions (
	id INTEGER NOT NULL, 
	pipeline_id VARCHAR(36) NOT NULL, 
	version INTEGER NOT NULL, 
	definition JSON NOT NULL, 
	source TEXT, 
	created_at DATETIME NOT NULL, 
	PRIMARY KEY (id), 
	CONSTRAINT uq_pipeline_versions UNIQUE (pipeline_id, version), 
	FOREIGN KEY(pipeline_id) REFERENCES pipelines (id)
)


;

CREATE TABLE triggers (
	id VARCHAR(36) NOT NULL, 
	pipeline_id VARCHAR(36) NOT NULL, 
	name VARCHAR(100) NOT NULL, 
	kind VARCHAR(16) NOT NULL, 
	spec JSON NOT NULL, 
	origin VARCHAR(8) NOT NULL, 
	active BOOLEAN NOT NULL, 
	next_fire_at DATETIME, 
	last_fire_at DATETIME, 
	last_run_id VARCHAR(36), 
	last_result TEXT, 
	cursor DATETIME, 
	created_at DATETIME NOT NULL, 
	updated_at DATETIME NOT NULL, 
	cursor_seq BIGINT, 
	PRIMARY KEY (id), 
	CONSTRAINT uq_triggers_pipeline_name UNIQUE (pipeline_id, name), 
	FOREIGN KEY(pipeline_id) REFERENCES pipelines (id)
)


;
CREATE INDEX ix_triggers_next_fire ON triggers (next_fire_at)
;

CREATE TABLE task_runs (
	id INTEGER NOT NULL, 
	run_id VARCHAR(36) NOT NULL, 
	task_id VARCHAR(200) NOT NULL, 
	kind VARCHAR(8) NOT NULL, 
	integration VARCHAR(100), 
	job VARCHAR(100), 
	state VARCHAR(16) NOT NULL, 
	attempt INTEGER NOT NULL, 
	external_id VARCHAR(200), 
	external JSON, 
	started_at DATETIME, 
	ended_at DATETIME, 
	next_attempt_at DATETIME, 
	error TEXT, 
	meta JSON, 
	outcome VARCHAR(16), 
	updated_at DATETIME NOT NULL, 
	intent JSON, 
	end_seq BIGINT, 
	PRIMARY KEY (id), 
	CONSTRAINT uq_task_runs_run_task UNIQUE (run_id, task_id), 
	FOREIGN KEY(run_id) REFERENCES pipeline_runs (id)
)


;
CREATE INDEX ix_task_runs_end_seq ON task_runs (end_seq)
;
