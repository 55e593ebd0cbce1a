// Drives an unmodified eureka-js-client for the cluster tests.
//
// Usage: node js_client.js SERVERS APP PORT
//   SERVERS  comma-separated Eureka base URLs (".../eureka"), tried in order, rotated on failure
// Reads commands on stdin, one per line, and answers each with one JSON line on stdout:
//   discover APP  -> {"event":"instances","app":APP,"statuses":[...]}  (the client's own cache)
//   status S      -> {"event":"status","status":S,"code":N}            (override through the client)
//   stop          -> {"event":"stopped"}                                (deregister)
'use strict';

const readline = require('readline');
const { Eureka } = require('eureka-js-client');

const [servers, app, portText] = process.argv.slice(2);
const port = Number(portText);
const say = (event) => process.stdout.write(JSON.stringify(event) + '\n');
const quiet = { debug() {}, info() {}, warn() {}, error() {}, level() {} };

const client = new Eureka({
  logger: quiet,
  instance: {
    app,
    instanceId: `127.0.0.1:${app.toLowerCase()}:${port}`,
    hostName: '127.0.0.1',
    ipAddr: '127.0.0.1',
    statusPageUrl: `http://127.0.0.1:${port}/info`,
    port: { $: port, '@enabled': true },
    vipAddress: app.toLowerCase(),
    dataCenterInfo: { '@class': 'com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo', name: 'MyOwn' },
    leaseInfo: { renewalIntervalInSecs: 1, durationInSecs: 3 },
    metadata: { client: 'eureka-js-client' },
  },
  eureka: {
    serviceUrls: { default: servers.split(',').map((s) => `${s}/apps/`) },
    heartbeatInterval: 1000,
    registryFetchInterval: 1000,
    maxRetries: 6,
    requestRetryDelay: 200,
  },
});

client.start((error) => say({ event: 'started', instance: client.instanceId, error: error ? String(error) : null }));

readline.createInterface({ input: process.stdin }).on('line', (line) => {
  const words = line.trim().split(/\s+/);
  if (words[0] === 'discover') {
    const statuses = client.getInstancesByAppId(words[1].toUpperCase()).map((i) => i.status);
    say({ event: 'instances', app: words[1], statuses });
  } else if (words[0] === 'status') {
    const uri = `${app}/${encodeURIComponent(client.instanceId)}/status?value=${words[1]}`;
    client.eurekaRequest({ method: 'PUT', uri }, (error, response) => {
      say({ event: 'status', status: words[1], code: response ? response.statusCode : null, error: error ? String(error) : null });
    });
  } else if (words[0] === 'stop') {
    client.stop(() => {
      say({ event: 'stopped' });
      process.exit(0);
    });
  }
});
