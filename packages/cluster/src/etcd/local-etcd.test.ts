import { describe, expect, it } from 'vitest';
import { findEtcdBinary, LocalEtcd } from './local-etcd.js';

describe('LocalEtcd', () => {
  it('says how to install etcd when the binary is missing', async () => {
    expect(() => findEtcdBinary('/nonexistent/etcd')).toThrow(/apt-get install -y etcd-server/);
    await expect(LocalEtcd.start({ binary: '/nonexistent/etcd' })).rejects.toThrow(/etcd not found/);
  });

  it('refuses an even number of members', async () => {
    await expect(LocalEtcd.start({ members: 2 })).rejects.toThrow(/odd number/);
  });
});
