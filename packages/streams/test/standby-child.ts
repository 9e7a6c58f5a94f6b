// A counting application as its own process, for the standby test: counts records per key into a store
// (with num.standby.replicas and application.server from its arguments) and prints its task metrics every
// 50 ms. Usage: standby-child.ts <bootstrap> <appId> <input> <output> <stateDir> <applicationServer> <standbys>
import { KafkaStreams } from '../src/index.js';
import { countTopology } from './topologies.js';

const [bootstrap, applicationId, input, output, stateDir, applicationServer, standbys] = process.argv.slice(2);
const app = new KafkaStreams(countTopology(input, output).topology, {
  brokers: [bootstrap],
  applicationId,
  stateDir,
  applicationServer,
  numStandbyReplicas: Number(standbys),
  commitIntervalMs: 100,
  sessionTimeoutMs: 6000,
  heartbeatIntervalMs: 500,
});
app.onError((err) => {
  console.error('streams failed', err);
  process.exit(3);
});
await app.start();
setInterval(async () => {
  console.log(`METRICS ${JSON.stringify(await app.metrics().catch(() => []))}`);
}, 50);
