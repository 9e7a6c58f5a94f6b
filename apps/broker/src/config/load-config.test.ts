import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { envNameToConfigName, loadConfig, propsFromEnv } from './load-config.js';
import { createBrokerConfig } from './static-config.js';
import { ConfigException, LONG_MAX } from './types.js';

const dir = mkdtempSync(join(tmpdir(), 'sluice-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

describe('defaults', () => {
  it('match Kafka (and Sluice: 127.0.0.1:9092, ./data)', () => {
    const c = createBrokerConfig();
    expect(c.get('message.max.bytes')).toBe(1048588);
    expect(c.get('log.segment.bytes')).toBe(1073741824);
    expect(c.get('num.partitions')).toBe(1);
    expect(c.get('log.retention.hours')).toBe(168);
    expect(c.get('log.retention.ms')).toBeNull();
    expect(c.get('log.retention.bytes')).toBe(-1n);
    expect(c.get('socket.request.max.bytes')).toBe(104857600);
    expect(c.get('connections.max.idle.ms')).toBe(600000n);
    expect(c.get('log.flush.interval.messages')).toBe(LONG_MAX);
    expect(c.get('log.cleaner.min.cleanable.ratio')).toBe(0.5);
    expect(c.get('log.cleanup.policy')).toEqual(['delete']);
    expect(c.listeners).toEqual([{ name: 'PLAINTEXT', securityProtocol: 'PLAINTEXT', host: '127.0.0.1', port: 9092 }]);
    expect(c.advertisedListeners).toEqual(c.listeners);
    expect(c.logDirs).toEqual([resolve('data')]);
    expect(c.nodeId).toBe(1);
    expect(c.metrics).toBeNull();
    expect(c.logIo).toBe('fd');
  });
});

describe('environment names', () => {
  it('maps SLUICE_ variables to Kafka names', () => {
    expect(envNameToConfigName('SLUICE_LOG_DIRS')).toBe('log.dirs');
    expect(envNameToConfigName('SLUICE_LOG_RETENTION_HOURS')).toBe('log.retention.hours');
    expect(envNameToConfigName('SLUICE_FOO__BAR')).toBe('foo_bar');
    expect(envNameToConfigName('SLUICE_FOO___BAR')).toBe('foo-bar');
    expect(envNameToConfigName('KAFKA_LOG_DIRS')).toBeNull();
    expect(envNameToConfigName('SLUICE_')).toBeNull();
  });

  it('reads LOG_LEVEL unless SLUICE_LOG_LEVEL is set, and skips empty values', () => {
    expect(propsFromEnv({ LOG_LEVEL: 'debug' })).toEqual({ 'log.level': 'debug' });
    expect(propsFromEnv({ LOG_LEVEL: 'debug', SLUICE_LOG_LEVEL: 'warn' })).toEqual({ 'log.level': 'warn' });
    expect(propsFromEnv({ SLUICE_NUM_PARTITIONS: '' })).toEqual({});
  });
});

describe('loadConfig precedence: flags > env > file > defaults', () => {
  const props = file(
    'server.properties',
    [
      '# a Kafka-style file',
      'node.id=7',
      'listeners=PLAINTEXT://0.0.0.0:19092',
      'log.dirs=/var/sluice/a,/var/sluice/b',
      'num.partitions=3',
      'log.retention.hours=24',
      'some.unknown.key=1',
    ].join('\n'),
  );

  it('file alone', () => {
    const { config, origins, warnings } = loadConfig({ configFile: props, env: {} });
    expect(config.nodeId).toBe(7);
    expect(config.listeners[0]).toMatchObject({ host: '0.0.0.0', port: 19092 });
    expect(config.logDirs).toEqual(['/var/sluice/a', '/var/sluice/b']);
    expect(config.get('num.partitions')).toBe(3);
    expect(origins['num.partitions']).toBe('file');
    expect(warnings).toEqual(["Unknown config 'some.unknown.key' (from file) is ignored"]);
  });

  it('env overrides file', () => {
    const { config, origins } = loadConfig({
      configFile: props,
      env: { SLUICE_NUM_PARTITIONS: '6', SLUICE_LOG_DIRS: '/env/dir', PATH: '/usr/bin' },
    });
    expect(config.get('num.partitions')).toBe(6);
    expect(config.logDirs).toEqual(['/env/dir']);
    expect(origins['num.partitions']).toBe('env');
    expect(config.get('log.retention.hours')).toBe(24);
  });

  it('flags override env and file; --port keeps the host and --host keeps the port', () => {
    const { config, origins } = loadConfig({
      configFile: props,
      env: { SLUICE_NUM_PARTITIONS: '6', SLUICE_LOG_DIRS: '/env/dir' },
      flags: { port: 0, dataDir: '/flag/dir', overrides: ['num.partitions=9', 'log.retention.ms=1000'] },
    });
    expect(config.listeners[0]).toMatchObject({ host: '0.0.0.0', port: 0 });
    expect(config.logDirs).toEqual(['/flag/dir']);
    expect(config.get('num.partitions')).toBe(9);
    expect(config.get('log.retention.ms')).toBe(1000n);
    expect(origins.listeners).toBe('flag');
    const h = loadConfig({ configFile: props, env: {}, flags: { host: '::1' } }).config;
    expect(h.listeners[0]).toMatchObject({ host: '::1', port: 19092 });
  });

  it('--host/--port replace only the first of several listeners', () => {
    const { config } = loadConfig({
      env: {
        SLUICE_LISTENERS: 'PLAINTEXT://a:1,INTERNAL://b:2',
        SLUICE_LISTENER_SECURITY_PROTOCOL_MAP: 'PLAINTEXT:PLAINTEXT,INTERNAL:PLAINTEXT',
      },
      flags: { host: 'h', port: 5 },
    });
    expect(config.listeners.map((l) => `${l.name}://${l.host}:${l.port}`)).toEqual([
      'PLAINTEXT://h:5',
      'INTERNAL://b:2',
    ]);
  });

  it('reports a missing file and bad overrides', () => {
    expect(() => loadConfig({ configFile: join(dir, 'nope.properties'), env: {} })).toThrow(/Cannot read config file/);
    expect(() => loadConfig({ env: {}, flags: { overrides: ['novalue'] } })).toThrow(/expected key=value/);
    expect(() => loadConfig({ env: {}, flags: { port: 70000 } })).toThrow(/Invalid port/);
  });
});

describe('validation of static config', () => {
  it('rejects bad values with Kafka messages', () => {
    expect(() => createBrokerConfig({ 'num.partitions': '0' })).toThrow(
      'Invalid value 0 for configuration num.partitions: Value must be at least 1',
    );
    expect(() => createBrokerConfig({ 'log.retention.ms': 'abc' })).toThrow(
      'Invalid value abc for configuration log.retention.ms: Not a number of type LONG',
    );
    expect(() => createBrokerConfig({ 'num.partitions': '2147483648' })).toThrow('Not a number of type INT');
    expect(() => createBrokerConfig({ 'auto.create.topics.enable': 'yes' })).toThrow(
      'Expected value to be either true or false',
    );
    expect(() => createBrokerConfig({ 'log.cleanup.policy': 'delete,shred' })).toThrow(
      'String must be one of: compact, delete',
    );
    expect(() => createBrokerConfig({ 'log.io': 'aio' })).toThrow(ConfigException);
    expect(() => createBrokerConfig({ 'log.dirs': 'a,a' })).toThrow('Duplicate elements');
  });

  it('node.id and broker.id must agree', () => {
    expect(createBrokerConfig({ 'broker.id': '4' }).nodeId).toBe(4);
    expect(createBrokerConfig({ 'node.id': '4', 'broker.id': '4' }).nodeId).toBe(4);
    expect(() => createBrokerConfig({ 'node.id': '4', 'broker.id': '5' })).toThrow(/must be equal/);
  });

  it('parses listeners: several, IPv6, empty host, ephemeral port; rejects junk', () => {
    const c = createBrokerConfig({
      listeners: 'PLAINTEXT://:0, INTERNAL://[::1]:9093',
      'listener.security.protocol.map': 'PLAINTEXT:PLAINTEXT,INTERNAL:PLAINTEXT',
      'advertised.listeners': 'PLAINTEXT://broker.example:9092',
    });
    expect(c.listeners).toEqual([
      { name: 'PLAINTEXT', securityProtocol: 'PLAINTEXT', host: '', port: 0 },
      { name: 'INTERNAL', securityProtocol: 'PLAINTEXT', host: '::1', port: 9093 },
    ]);
    expect(c.advertisedListeners).toEqual([
      { name: 'PLAINTEXT', securityProtocol: 'PLAINTEXT', host: 'broker.example', port: 9092 },
    ]);
    expect(() => createBrokerConfig({ listeners: 'localhost:9092' })).toThrow(/Unable to parse/);
    expect(() => createBrokerConfig({ listeners: 'PLAINTEXT://a:1,PLAINTEXT://b:2' })).toThrow(/different name/);
    expect(
      createBrokerConfig({ listeners: 'SSL://a:1,SASL_SSL://b:2' }).listeners.map((l) => l.securityProtocol),
    ).toEqual(['SSL', 'SASL_SSL']);
    expect(() => createBrokerConfig({ listeners: 'X://a:1', 'listener.security.protocol.map': 'X:KERBEROS' })).toThrow(
      /unknown security protocol KERBEROS/,
    );
    // Per-listener security settings are known configs (no "unknown config" warning), as in Kafka.
    expect(
      createBrokerConfig({
        'listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config': 'x',
        'listener.name.ssl.ssl.client.auth': 'required',
        'super.users': 'User:admin',
        'listener.name.x.no.such.config': '1',
      }).unknown,
    ).toEqual(['listener.name.x.no.such.config']);
    expect(() => createBrokerConfig({ listeners: 'FOO://a:1' })).toThrow(/No security protocol/);
    expect(() => createBrokerConfig({ listeners: 'PLAINTEXT://a:65536' })).toThrow(/out of range/);
  });

  it('metrics.port 0 and -1 disable the endpoint', () => {
    expect(createBrokerConfig({ 'metrics.port': '0' }).metrics).toBeNull();
    expect(createBrokerConfig({ 'metrics.port': '9404' }).metrics).toEqual({ host: '127.0.0.1', port: 9404 });
  });
});
