import { parseElement } from '@strom/xml';
import { describe, expect, it } from 'vitest';
import { CapsCache, notifyNodes, verificationString } from './caps.js';

describe('XEP-0115 verification strings', () => {
  it('computes the simple example of §5.2', () => {
    const query = parseElement(`<query xmlns="http://jabber.org/protocol/disco#info">
      <identity category="client" type="pc" name="Exodus 0.9.1"/>
      <feature var="http://jabber.org/protocol/disco#info"/>
      <feature var="http://jabber.org/protocol/disco#items"/>
      <feature var="http://jabber.org/protocol/muc"/>
      <feature var="http://jabber.org/protocol/caps"/>
    </query>`);
    expect(verificationString(query, 'sha-1')).toBe('QgayPKawpkPSDYmwT/WM94uAlu0=');
  });

  it('computes the complex example of §5.3, with languages and an extended form', () => {
    const query = parseElement(`<query xmlns="http://jabber.org/protocol/disco#info">
      <identity xml:lang="en" category="client" name="Psi 0.11" type="pc"/>
      <identity xml:lang="el" category="client" name="Ψ 0.11" type="pc"/>
      <feature var="http://jabber.org/protocol/caps"/>
      <feature var="http://jabber.org/protocol/disco#info"/>
      <feature var="http://jabber.org/protocol/disco#items"/>
      <feature var="http://jabber.org/protocol/muc"/>
      <x xmlns="jabber:x:data" type="result">
        <field var="FORM_TYPE" type="hidden"><value>urn:xmpp:dataforms:softwareinfo</value></field>
        <field var="ip_version" type="text-multi"><value>ipv4</value><value>ipv6</value></field>
        <field var="os"><value>Mac</value></field>
        <field var="os_version"><value>10.5.1</value></field>
        <field var="software"><value>Psi</value></field>
        <field var="software_version"><value>0.11</value></field>
      </x>
    </query>`);
    expect(verificationString(query, 'sha-1')).toBe('q07IKJEyjvHSyhy//CH0CxmKi8w=');
  });

  it('refuses answers the XEP says not to trust, and unknown algorithms', () => {
    const duplicate = parseElement(`<query xmlns="http://jabber.org/protocol/disco#info">
      <identity category="client" type="pc"/><feature var="a"/><feature var="a"/></query>`);
    expect(verificationString(duplicate, 'sha-1')).toBeUndefined();
    expect(verificationString(duplicate, 'md5')).toBeUndefined();
  });
});

describe('notification interest', () => {
  it('reads the +notify features', () => {
    expect([
      ...notifyNodes(['urn:xmpp:avatar:metadata+notify', 'http://jabber.org/protocol/caps', 'x+notify']),
    ]).toEqual(['urn:xmpp:avatar:metadata', 'x']);
  });

  it('keeps a bounded cache', () => {
    const cache = new CapsCache(2);
    cache.set('a', ['1']);
    cache.set('b', ['2']);
    cache.set('c', ['3']);
    expect(cache.get('a')).toBeUndefined();
    expect([...(cache.get('c') ?? [])]).toEqual(['3']);
  });
});
