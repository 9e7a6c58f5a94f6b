// How this broker reaches the others (replica fetchers, and any broker-to-broker call): through the
// listener Kafka's `inter.broker.listener.name` names, or the one named after
// `security.inter.broker.protocol`, with that listener's own security settings on the client side —
// its trust store (and key store, for mutual TLS), and for SASL the mechanism
// `sasl.mechanism.inter.broker.protocol` logging in with the `username`/`password` of that
// mechanism's JAAS entry on the listener (as Kafka's brokers do).

import type { ConnectionOptions, SaslOptions, SslOptions } from '@sluice/client';
import { clientTlsOptions, parseJaasConfig, unsecuredLoginToken } from '@sluice/security';
import type { BrokerConfig } from '../config/index.js';
import { listenerConfig } from '../config/index.js';
import { ConfigException } from '../config/types.js';

export interface InterBrokerSettings {
  /** The listener name other brokers are reached on. */
  readonly listener: string;
  readonly ssl?: SslOptions;
  readonly sasl?: SaslOptions;
}

/** A registered endpoint of another broker. */
export interface BrokerEndpoint {
  readonly name: string;
  readonly host: string;
  readonly port: number;
}

function saslLogin(config: BrokerConfig, listener: string): SaslOptions {
  const mechanism = (config.props['sasl.mechanism.inter.broker.protocol'] ?? 'GSSAPI').trim().toUpperCase();
  const fail = (why: string): never => {
    throw new ConfigException(`Inter-broker listener ${listener}: ${why}`);
  };
  if (!['PLAIN', 'SCRAM-SHA-256', 'SCRAM-SHA-512', 'OAUTHBEARER'].includes(mechanism)) {
    fail(
      `sasl.mechanism.inter.broker.protocol ${mechanism} is not supported by Sluice (set PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER)`,
    );
  }
  const jaas = listenerConfig(config, listener, 'sasl.jaas.config', mechanism.toLowerCase());
  if (jaas === null) {
    return fail(
      `listener.name.${listener.toLowerCase()}.${mechanism.toLowerCase()}.sasl.jaas.config is needed for the broker's own login`,
    );
  }
  const options = parseJaasConfig(jaas).options;
  if (mechanism === 'OAUTHBEARER') {
    try {
      unsecuredLoginToken(options);
    } catch (err) {
      return fail(`the OAUTHBEARER JAAS entry does not make the broker's own token: ${(err as Error).message}`);
    }
    return { mechanism: 'OAUTHBEARER', token: () => unsecuredLoginToken(options) };
  }
  const username = options.get('username');
  const password = options.get('password');
  if (username === undefined || password === undefined) {
    return fail(`the ${mechanism} JAAS entry needs username and password for the broker's own login`);
  }
  return { mechanism: mechanism as 'PLAIN' | 'SCRAM-SHA-256' | 'SCRAM-SHA-512', username, password };
}

/** The inter-broker listener and its client-side security; throws ConfigException as Kafka refuses a bad setup. */
export function interBrokerSettings(config: BrokerConfig): InterBrokerSettings {
  const byName = config.props['inter.broker.listener.name'];
  const byProtocol = config.props['security.inter.broker.protocol'];
  if (byName !== undefined && byProtocol !== undefined) {
    throw new ConfigException(
      'Only one of inter.broker.listener.name and security.inter.broker.protocol should be set.',
    );
  }
  // Neither set: Kafka's default protocol PLAINTEXT names the listener; a broker without one (a
  // single node, say) keeps using its first listener.
  const wanted = (byName ?? byProtocol ?? 'PLAINTEXT').trim().toUpperCase();
  const listener =
    config.advertisedListeners.find((l) => l.name === wanted) ??
    (byName === undefined && byProtocol === undefined ? config.advertisedListeners[0] : undefined);
  if (listener === undefined) {
    throw new ConfigException(
      byName !== undefined
        ? 'inter.broker.listener.name must be a listener name defined in advertised.listeners. The valid options based on currently configured listeners are ' +
            config.advertisedListeners.map((l) => l.name).join(',')
        : `Listener with name ${wanted} defined in security.inter.broker.protocol not found in advertised.listeners`,
    );
  }
  const protocol = listener.securityProtocol;
  const get = (key: string) => listenerConfig(config, listener.name, key);
  let ssl: SslOptions | undefined;
  if (protocol === 'SSL' || protocol === 'SASL_SSL') {
    try {
      ssl = clientTlsOptions(get);
    } catch (err) {
      throw new ConfigException(`Inter-broker listener ${listener.name}: ${(err as Error).message}`);
    }
    // ssl.endpoint.identification.algorithm empty: no host name check (Kafka's setting for it).
    if ((get('ssl.endpoint.identification.algorithm') ?? 'https') === '')
      ssl = { ...ssl, checkServerIdentity: () => undefined };
  }
  const sasl = protocol === 'SASL_PLAINTEXT' || protocol === 'SASL_SSL' ? saslLogin(config, listener.name) : undefined;
  return { listener: listener.name, ssl, sasl };
}

/** Connection options to another broker through the inter-broker listener, or null when it has no such endpoint. */
export function interBrokerConnection(
  settings: InterBrokerSettings,
  endpoints: readonly BrokerEndpoint[],
): Pick<ConnectionOptions, 'host' | 'port' | 'ssl' | 'sasl'> | null {
  const e = endpoints.find((x) => x.name === settings.listener);
  if (e === undefined) return null;
  return { host: e.host, port: e.port, ssl: settings.ssl, sasl: settings.sasl };
}
