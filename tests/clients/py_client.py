"""Drives an unmodified py-eureka-client for the cluster tests.

Usage: py_client.py SERVERS APP PORT [METADATA_JSON]
  SERVERS        comma-separated Eureka base URLs (".../eureka/"), tried in order
  METADATA_JSON  the instance's metadata (default {"client": "py-eureka-client"})
Reads commands on stdin, one per line, and answers each with one JSON line on stdout:
  discover APP  -> {"event": "instances", "app": APP, "statuses": [...]}  (the client's own cache)
  details APP   -> {"event": "details", "app": APP, "instances": [{ipAddr, port, status,
                   overriddenStatus, metadata, dataCenter}, ...]}        (the client's own cache)
  status S      -> {"event": "status", "status": S}                         (override, PUT .../status)
  stop          -> {"event": "stopped"}                                     (DOWN, then cancel)
"""

import json
import sys

import py_eureka_client.eureka_client as eureka_client


def say(**event):
    print(json.dumps(event), flush=True)


def main():
    servers, app, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    metadata = json.loads(sys.argv[4]) if len(sys.argv) > 4 else {"client": "py-eureka-client"}
    client = eureka_client.init(
        eureka_server=servers,
        app_name=app,
        instance_host="127.0.0.1",
        instance_ip="127.0.0.1",
        instance_port=port,
        renewal_interval_in_secs=1,
        duration_in_secs=3,
        metadata=metadata,
    )
    say(event="started", instance=f"127.0.0.1:{app.lower()}:{port}")
    loop = eureka_client.get_event_loop()
    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        if words[0] == "discover":
            found = client.applications.get_application(words[1].upper()) if client.applications else None
            statuses = [i.status for i in found.instances] if found else []
            say(event="instances", app=words[1], statuses=statuses)
        elif words[0] == "details":
            found = client.applications.get_application(words[1].upper()) if client.applications else None
            instances = [
                {
                    "ipAddr": i.ipAddr,
                    "port": i.port.port,
                    "status": i.status,
                    "overriddenStatus": i.overriddenstatus,
                    "metadata": i.metadata,
                    "dataCenter": i.dataCenterInfo.name,
                }
                for i in (found.instances if found else [])
            ]
            say(event="details", app=words[1], instances=instances)
        elif words[0] == "status":
            loop.run_until_complete(client.status_update(words[1]))
            say(event="status", status=words[1])
        elif words[0] == "stop":
            eureka_client.stop()
            say(event="stopped")
            return


if __name__ == "__main__":
    main()
