import { describe, expect, it } from 'vitest';
import { createAccount, uniqueName, useTestStorage } from './test-fixtures.js';
import { STORAGE_KINDS } from './testing.js';

describe.each(STORAGE_KINDS)('vCards on %s', (kind) => {
  const storage = useTestStorage(kind);
  const vcards = () => storage().vcards;

  it('stores, replaces and deletes a vCard with its avatar hash', async () => {
    const owner = await createAccount(storage());
    expect(await vcards().get(owner)).toBeUndefined();

    const photo = 'iVBORw0KGgo'.repeat(2000);
    const xml = `<vCard xmlns="vcard-temp"><FN>Alice</FN><PHOTO><TYPE>image/png</TYPE><BINVAL>${photo}</BINVAL></PHOTO></vCard>`;
    await vcards().set(owner, xml, 'a94a8fe5ccb19ba61c4c0873d391e987982fbbd3');
    expect(await vcards().get(owner)).toEqual({
      xml,
      avatarHash: 'a94a8fe5ccb19ba61c4c0873d391e987982fbbd3',
    });

    const plain = '<vCard xmlns="vcard-temp"><FN>Alice Liddell</FN></vCard>';
    await vcards().set(owner, plain, null);
    expect(await vcards().get(owner)).toEqual({ xml: plain, avatarHash: null });

    expect(await vcards().delete(owner)).toBe(true);
    expect(await vcards().get(owner)).toBeUndefined();
    expect(await vcards().delete(owner)).toBe(false);
  });

  it('keeps each owner’s vCard apart', async () => {
    const alice = await createAccount(storage(), 'alice');
    const bob = await createAccount(storage(), 'bob');
    await vcards().set(alice, '<vCard xmlns="vcard-temp"><FN>A</FN></vCard>', null);
    await vcards().set(bob, '<vCard xmlns="vcard-temp"><FN>B</FN></vCard>', 'hash-b');
    expect((await vcards().get(alice))?.xml).toContain('<FN>A</FN>');
    expect(await vcards().get(bob)).toEqual({
      xml: '<vCard xmlns="vcard-temp"><FN>B</FN></vCard>',
      avatarHash: 'hash-b',
    });
  });

  it('refuses a vCard for an unknown account', async () => {
    await expect(vcards().set(uniqueName('ghost'), '<vCard xmlns="vcard-temp"/>', null)).rejects.toThrow();
  });
});
