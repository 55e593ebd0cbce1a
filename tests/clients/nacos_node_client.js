// Drives an unmodified Node SDK `nacos` (nacos-naming 2.x: the naming Open API v1 over HTTP,
// the BeatReactor's beats, the HostReactor's list polling and its UDP PushReceiver) for the
// cluster tests.
//
// Usage: node nacos_node_client.js SERVERS
//   SERVERS  comma-separated HOST:PORT of the registry's listeners (the SDK's serverList)
// Reads commands on stdin, one per line, and answers each with one JSON line on stdout:
//   register SERVICE IP PORT [METADATA_JSON] -> {"event":"registered"}   (ephemeral: the SDK beats)
//   deregister SERVICE IP PORT               -> {"event":"deregistered"}
//   all SERVICE                              -> {"event":"all","ips":["ip:port",...]}
//                                               (getAllInstances, subscribing, from the SDK's cache)
//   select SERVICE                           -> {"event":"select","ips":[...]} (selectInstances, healthy)
//   subscribe SERVICE                        -> {"event":"subscribed"}
//   seen SERVICE -> {"event":"seen","ips":[...],"pushes":N,"pushed":[...]}
//        ips: the hosts the subscription's listener last got; pushes: UDP pushes the SDK's
//        PushReceiver took for the service; pushed: the hosts of the last of them
//   stop                                     -> {"event":"stopped"}
// A call the SDK rejects answers {"event":"error","error":TEXT}.
'use strict';

const readline = require('readline');
const { NacosNamingClient } = require('nacos');

const [servers] = process.argv.slice(2);
const say = (event) => process.stdout.write(JSON.stringify(event) + '\n');

// The pushes the SDK's PushReceiver logs (`received push data: JSON from HOST:PORT`), by
// service name (`group@@service`).
const pushes = new Map();
const notePush = (args) => {
  if (typeof args[0] !== 'string' || !args[0].startsWith('[PushReceiver] received push data')) return;
  try {
    const packet = JSON.parse(args[1]);
    const info = JSON.parse(packet.data);
    const seen = pushes.get(info.name) || { count: 0, hosts: [] };
    seen.count += 1;
    seen.hosts = info.hosts || [];
    pushes.set(info.name, seen);
  } catch (_) {
    // not a push we can read: not counted
  }
};
const logger = {
  debug() {},
  info(...args) { notePush(args); },
  warn() {},
  error() {},
};

const ips = (hosts) => (hosts || []).map((h) => `${h.ip}:${h.port}`).sort();
const grouped = (service) => `DEFAULT_GROUP@@${service}`;
const listened = new Map();

async function main() {
  const client = new NacosNamingClient({ logger, serverList: servers, namespace: 'public' });
  client.on('error', () => {});
  client._hostReactor.on('error', () => {});
  await client.ready();
  say({ event: 'started' });
  const lines = readline.createInterface({ input: process.stdin });
  for await (const line of lines) {
    const [command, ...args] = line.trim().split(/\s+/);
    if (!command) continue;
    try {
      if (command === 'register') {
        const [service, ip, port, metadata] = args;
        await client.registerInstance(service, {
          ip,
          port: Number(port),
          metadata: metadata ? JSON.parse(metadata) : {},
        });
        say({ event: 'registered' });
      } else if (command === 'deregister') {
        const [service, ip, port] = args;
        await client.deregisterInstance(service, { ip, port: Number(port) });
        say({ event: 'deregistered' });
      } else if (command === 'all') {
        say({ event: 'all', ips: ips(await client.getAllInstances(args[0])) });
      } else if (command === 'select') {
        say({ event: 'select', ips: ips(await client.selectInstances(args[0])) });
      } else if (command === 'subscribe') {
        const service = args[0];
        listened.set(service, []);
        client.subscribe(service, (hosts) => listened.set(service, hosts));
        say({ event: 'subscribed' });
      } else if (command === 'seen') {
        const service = args[0];
        const pushed = pushes.get(grouped(service)) || { count: 0, hosts: [] };
        say({ event: 'seen', ips: ips(listened.get(service)), pushes: pushed.count, pushed: ips(pushed.hosts) });
      } else if (command === 'stop') {
        await client.close();
        say({ event: 'stopped' });
        process.exit(0);
      } else {
        say({ event: 'error', error: `unknown command ${command}` });
      }
    } catch (e) {
      say({ event: 'error', error: String(e && e.message ? e.message : e) });
    }
  }
}

main().catch((e) => {
  say({ event: 'error', error: String(e && e.stack ? e.stack : e) });
  process.exit(1);
});
