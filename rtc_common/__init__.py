"""What ``rtc_relay`` and ``supernode`` share: neither imports the other, both import this.

- :mod:`rtc_common.server_log` — our loggers' lines in jupyter_server's log.
"""
