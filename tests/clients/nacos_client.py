"""Drives an unmodified nacos-sdk-python 1.x (`nacos.NacosClient`, the naming Open API v1 over
HTTP) for the cluster tests.

Usage: nacos_client.py SERVERS [NAMESPACE]
  SERVERS  comma-separated HOST:PORT of the registry's listeners, tried in order
Reads commands on stdin, one per line (words separated by spaces), and answers each with one
JSON line on stdout:
  register SERVICE IP PORT CLUSTER METADATA_JSON [MODE] -> {"event": "registered", "ok": bool}
      MODE: `beat-every:SECONDS` (the client's own heartbeat thread), `persistent`
      (ephemeral=false), or none (ephemeral, no beats unless asked)
  beat SERVICE IP PORT CLUSTER                   -> {"event": "beat", "answer": {...}}
  list [GROUP@@]SERVICE [CLUSTERS]               -> {"event": "list", "result": {...}}
      (`GROUP@@` asks for that group, else DEFAULT_GROUP)
  detail SERVICE IP PORT CLUSTER                 -> {"event": "detail", "result": {...}}
  update SERVICE IP PORT CLUSTER WEIGHT METADATA_JSON [persistent] [enabled|disabled]
                                                 -> {"event": "updated", "ok": bool}
      (`modify_naming_instance`; `persistent` keeps a persistent instance persistent;
      `enabled`/`disabled` sends `enable`, else it is left out)
  deregister SERVICE IP PORT CLUSTER             -> {"event": "deregistered", "ok": bool}
  stop                                           -> {"event": "stopped"}
A call the client raises on answers {"event": "error", "error": TEXT}.
"""

import json
import logging
import sys

import nacos


def say(**event):
    print(json.dumps(event), flush=True)


def main():
    servers = sys.argv[1]
    namespace = sys.argv[2] if len(sys.argv) > 2 else None
    logging.disable(logging.CRITICAL)
    client = nacos.NacosClient(servers, namespace=namespace)
    say(event="started")
    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        command, args = words[0], words[1:]
        try:
            if command == "register":
                service, ip, port, cluster, metadata = args[:5]
                mode = args[5] if len(args) > 5 else ""
                every = int(mode.split(":")[1]) if mode.startswith("beat-every:") else None
                ok = client.add_naming_instance(
                    service,
                    ip,
                    int(port),
                    cluster_name=cluster,
                    metadata=json.loads(metadata),
                    ephemeral=mode != "persistent",
                    heartbeat_interval=every,
                )
                say(event="registered", ok=ok)
            elif command == "beat":
                service, ip, port, cluster = args
                say(event="beat", answer=client.send_heartbeat(service, ip, int(port), cluster_name=cluster))
            elif command == "list":
                group, _, service = args[0].rpartition("@@")
                clusters = args[1] if len(args) > 1 else None
                result = client.list_naming_instance(service, clusters=clusters, group_name=group or None)
                say(event="list", result=result)
            elif command == "detail":
                service, ip, port, cluster = args
                say(event="detail", result=client.get_naming_instance(service, ip, int(port), cluster))
            elif command == "update":
                service, ip, port, cluster, weight, metadata = args[:6]
                flags = args[6:]
                enable = True if "enabled" in flags else False if "disabled" in flags else None
                ok = client.modify_naming_instance(
                    service,
                    ip,
                    int(port),
                    cluster_name=cluster,
                    weight=float(weight),
                    metadata=json.loads(metadata),
                    enable=enable,
                    ephemeral="persistent" not in flags,
                )
                say(event="updated", ok=ok)
            elif command == "deregister":
                service, ip, port, cluster = args
                say(event="deregistered", ok=client.remove_naming_instance(service, ip, int(port), cluster))
            elif command == "stop":
                say(event="stopped")
                return
            else:
                say(event="error", error=f"unknown command {command}")
        except Exception as e:  # the client's own exceptions, reported to the test
            say(event="error", error=str(e))


if __name__ == "__main__":
    main()
