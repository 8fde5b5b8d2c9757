"""What ``rtc_relay`` and ``supernode`` share: neither imports the other, both import this.

- :mod:`rtc_common.tasks` — the supervisor of background tasks (a parent for every task, a ready
  signal and a reported death for every long-lived loop);
- :mod:`rtc_common.schema` — where the JSON schemas of ``schema/`` are;
- :mod:`rtc_common.close_codes` — the close-code catalogue, read once;
- :mod:`rtc_common.server_log` — our loggers' lines in jupyter_server's log;
- :mod:`rtc_common.text` — positions in shared text (code points, UTF-8 bytes, UTF-16 units).

It imports nothing of Jupyter: ``python -m rtc_relay`` runs with it alone.
"""
