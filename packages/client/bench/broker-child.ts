// A Sluice broker in its own process, so the benchmark measures the clients, not a shared event loop.
import { startBroker } from '@sluice/broker';

const broker = await startBroker({
  props: { 'log.level': 'warn', 'num.partitions': '3', 'group.initial.rebalance.delay.ms': '0' },
});
process.stdout.write(`${JSON.stringify({ bootstrap: broker.bootstrap })}\n`);
process.on('SIGTERM', () => {
  broker.stop().then(() => process.exit(0));
});
