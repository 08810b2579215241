import orchestra_hightouch.plugin

from orchestra_core.testing.contracts import IntegrationJobContract


class TestHightouchSync(IntegrationJobContract):
    plugin = orchestra_hightouch.plugin
    distribution = "orchestra-hightouch"
    integration = "hightouch"
    job = "hightouch_sync"
    valid_parameters = {"syncid": "12345"}
    required_parameters = ("syncid",)


class TestHightouchSyncBySlug(IntegrationJobContract):
    plugin = orchestra_hightouch.plugin
    distribution = "orchestra-hightouch"
    integration = "hightouch"
    job = "hightouch_sync"
    valid_parameters = {"sync_slug": "daily-accounts"}
    required_parameters = ()
