"""Drives an unmodified nacos-sdk-python 2.x gRPC naming client (`v2.nacos.NacosNamingService`,
Nacos 2.x's gRPC protocol on the listener's port + 1000) for the cluster tests.

Usage: nacos_grpc_client.py SERVERS CACHE_DIR
  SERVERS    comma-separated HOST:PORT of the registry's HTTP listeners (the client adds 1000)
  CACHE_DIR  where the client may write its cache and logs
Reads commands on stdin, one per line (words separated by spaces), and answers each with one
JSON line on stdout:
  register SERVICE IP PORT CLUSTER METADATA_JSON -> {"event": "registered", "ok": bool}
  batch SERVICE CLUSTER IP:PORT[,IP:PORT...]     -> {"event": "batch", "ok": bool}
  deregister SERVICE IP PORT CLUSTER             -> {"event": "deregistered", "ok": bool}
  list SERVICE                                   -> {"event": "list", "hosts": [...]}  (asks the server)
  services                                       -> {"event": "services", "count": N, "names": [...]}
  subscribe SERVICE                              -> {"event": "subscribed"}
  pushes SERVICE                                 -> {"event": "pushes", "pushes": [[IP:PORT, ...], ...]}
      (the instances of each change the subscription's callback received, in order)
  server                                         -> {"event": "server", "port": GRPC_PORT}
      (the gRPC port of the node the client is connected to now, read from the client's state)
  stop                                           -> {"event": "stopped"}
A call the client raises on answers {"event": "error", "error": TEXT}.
"""

import asyncio
import json
import logging
import sys

from v2.nacos import ClientConfigBuilder, GRPCConfig, NacosNamingService
from v2.nacos.naming.model.naming_param import (
    BatchRegisterInstanceParam,
    DeregisterInstanceParam,
    ListInstanceParam,
    ListServiceParam,
    RegisterInstanceParam,
    SubscribeServiceParam,
)


def say(**event):
    print(json.dumps(event), flush=True)


def host(i):
    return {
        "ip": i.ip,
        "port": i.port,
        "clusterName": i.clusterName,
        "healthy": i.healthy,
        "enabled": i.enabled,
        "weight": i.weight,
        "ephemeral": i.ephemeral,
        "metadata": i.metadata,
        "instanceId": i.instanceId,
    }


async def main():
    servers, cache_dir = sys.argv[1], sys.argv[2]
    logging.disable(logging.CRITICAL)
    config = (
        ClientConfigBuilder()
        .server_address(servers)
        .log_dir(cache_dir)
        .cache_dir(cache_dir)
        .load_cache_at_start(False)
        .grpc_config(GRPCConfig(grpc_timeout=3000))
        .build()
    )
    naming = await NacosNamingService.create_naming_service(config)
    pushes = {}
    say(event="started")
    loop = asyncio.get_running_loop()
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line:
            return
        words = line.split()
        if not words:
            continue
        command, args = words[0], words[1:]
        try:
            if command == "register":
                service, ip, port, cluster, metadata = args[:5]
                ok = await naming.register_instance(
                    RegisterInstanceParam(
                        service_name=service,
                        ip=ip,
                        port=int(port),
                        cluster_name=cluster,
                        metadata=json.loads(metadata),
                    )
                )
                say(event="registered", ok=ok)
            elif command == "batch":
                service, cluster, addresses = args
                instances = [
                    RegisterInstanceParam(service_name=service, ip=a.split(":")[0], port=int(a.split(":")[1]),
                                          cluster_name=cluster)
                    for a in addresses.split(",")
                ]
                ok = await naming.batch_register_instances(
                    BatchRegisterInstanceParam(service_name=service, instances=instances)
                )
                say(event="batch", ok=ok)
            elif command == "deregister":
                service, ip, port, cluster = args
                ok = await naming.deregister_instance(
                    DeregisterInstanceParam(service_name=service, ip=ip, port=int(port), cluster_name=cluster)
                )
                say(event="deregistered", ok=ok)
            elif command == "list":
                found = await naming.list_instances(
                    ListInstanceParam(service_name=args[0], subscribe=False, healthy_only=None)
                )
                say(event="list", hosts=[host(i) for i in found])
            elif command == "services":
                listed = await naming.list_services(ListServiceParam())
                say(event="services", count=listed.count, names=listed.services)
            elif command == "subscribe":
                service = args[0]
                seen = pushes.setdefault(service, [])

                async def changed(instances, seen=seen):
                    seen.append(sorted(f"{i.ip}:{i.port}" for i in instances))

                await naming.subscribe(SubscribeServiceParam(service_name=service, subscribe_callback=changed))
                say(event="subscribed")
            elif command == "pushes":
                say(event="pushes", pushes=pushes.get(args[0], []))
            elif command == "server":
                connection = naming.grpc_client_proxy.rpc_client.current_connection
                port = connection.server_info.get_server_port() if connection else None
                say(event="server", port=port)
            elif command == "stop":
                say(event="stopped")
                try:
                    await naming.shutdown()
                except Exception:  # 2.0.11's shutdown awaits a None; the process ends anyway
                    pass
                return
            else:
                say(event="error", error=f"unknown command {command}")
        except Exception as e:  # the client's own exceptions, reported to the test
            say(event="error", error=str(e))


if __name__ == "__main__":
    asyncio.run(main())
