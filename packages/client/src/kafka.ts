import { Admin } from './admin.js';
import type { ClientOptions } from './client.js';
import { Consumer, type ConsumerOptions } from './consumer/consumer.js';
import { ShareConsumer, type ShareConsumerOptions } from './consumer/share-consumer.js';
import { Producer, type ProducerOptions } from './producer/producer.js';

/** Entry point: `new Kafka({ brokers: ['localhost:9092'] }).producer()`; each client has its own connections. */
export class Kafka {
  constructor(readonly options: ClientOptions) {}

  producer(options?: ProducerOptions): Producer {
    return new Producer(this.options, options);
  }

  consumer(options?: ConsumerOptions): Consumer {
    return new Consumer(this.options, options);
  }

  /** A share-group consumer (KIP-932): records shared by the members of a group, acknowledged one by one. */
  shareConsumer(options: ShareConsumerOptions): ShareConsumer {
    return new ShareConsumer(this.options, options);
  }

  admin(): Admin {
    return new Admin(this.options);
  }
}
