import { describe, expect, it } from 'vitest';
import { parseClientProperties, saslFromProperties } from './sasl-config.js';

const file = `# as for kafka-topics --command-config
security.protocol=SASL_PLAINTEXT
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="alice" password="p\\"w=1";
`;

describe('saslFromProperties', () => {
  it("reads Kafka's client settings, flags over the file", () => {
    const props = parseClientProperties(file);
    expect(saslFromProperties(props)).toEqual({ mechanism: 'SCRAM-SHA-512', username: 'alice', password: 'p"w=1' });
    expect(saslFromProperties(props, { saslMechanism: 'PLAIN' })?.mechanism).toBe('PLAIN');
    expect(saslFromProperties(props, { securityProtocol: 'PLAINTEXT' })).toBeUndefined();
    expect(saslFromProperties({})).toBeUndefined();
  });

  it('names what is wrong', () => {
    const props = parseClientProperties(file);
    expect(() => saslFromProperties(props, { securityProtocol: 'SASL_SSL' })).toThrow(/PLAINTEXT or SASL_PLAINTEXT/);
    expect(() => saslFromProperties(props, { saslMechanism: 'GSSAPI' })).toThrow(/sasl.mechanism GSSAPI/);
    expect(() => saslFromProperties({ 'security.protocol': 'SASL_PLAINTEXT', 'sasl.mechanism': 'PLAIN' })).toThrow(
      /sasl.jaas.config: missing/,
    );
    expect(() =>
      saslFromProperties({
        'security.protocol': 'SASL_PLAINTEXT',
        'sasl.mechanism': 'PLAIN',
        'sasl.jaas.config': 'x required;',
      }),
    ).toThrow(/username/);
    expect(() => parseClientProperties('=nokey')).toThrow(/cannot read/);
  });
});
