import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import sharp from 'sharp';
import { bareHostname } from '../src/net/addressPolicy.ts';
import { blockedRange, formatBytes, sniffImageType, sniffNonImageType } from '../src/net/index.ts';

const base = () => sharp({ create: { width: 4, height: 4, channels: 3, background: '#ff66aa' } });

/** ISO-BMFF ftyp box: size, 'ftyp', major brand, minor version, compatible brands. */
function ftyp(major: string, compatible: string[]): Buffer {
  const size = 16 + 4 * compatible.length;
  const box = Buffer.alloc(size + 8);
  box.writeUInt32BE(size, 0);
  box.write('ftyp', 4, 'latin1');
  box.write(major, 8, 'latin1');
  compatible.forEach((b, i) => box.write(b, 16 + 4 * i, 'latin1'));
  return box;
}

describe('sniffImageType', () => {
  it('recognises the formats sharp writes', async () => {
    const cases = {
      jpeg: await base().jpeg().toBuffer(),
      png: await base().png().toBuffer(),
      gif: await base().gif().toBuffer(),
      webp: await base().webp().toBuffer(),
      tiff: await base().tiff().toBuffer(),
      avif: await base().avif().toBuffer(),
    } as const;
    for (const [kind, buf] of Object.entries(cases)) assert.equal(sniffImageType(buf), kind, kind);
  });

  it('recognises hand-made headers: big-endian TIFF, HEIF brands, BMP', () => {
    assert.equal(sniffImageType(Buffer.from('MM\0*\0\0\0\x08', 'latin1')), 'tiff');
    assert.equal(sniffImageType(ftyp('heic', ['mif1', 'heic'])), 'heif');
    assert.equal(sniffImageType(ftyp('mif1', ['mif1', 'avif'])), 'avif');
    const bmp = Buffer.alloc(54);
    bmp.write('BM', 0, 'latin1');
    bmp.writeUInt32LE(54, 2);
    bmp.writeUInt32LE(40, 14); // BITMAPINFOHEADER
    assert.equal(sniffImageType(bmp), 'bmp');
  });

  it('rejects look-alikes and truncated input', () => {
    assert.equal(sniffImageType(ftyp('isom', ['isom', 'mp42'])), null, 'MP4 video');
    assert.equal(sniffImageType(Buffer.from('BM plain text that starts with BM')), null);
    assert.equal(sniffImageType(Buffer.from('RIFF\0\0\0\0WAVEfmt ', 'latin1')), null, 'WAV audio');
    assert.equal(sniffImageType(Buffer.from([0xff, 0xd8])), null);
    assert.equal(sniffImageType(Buffer.alloc(0)), null);
  });
});

describe('sniffNonImageType', () => {
  it('names the common non-photo formats', () => {
    assert.equal(sniffNonImageType(Buffer.from('\uFEFF  <svg width="1"></svg>')), 'svg');
    assert.equal(sniffNonImageType(Buffer.from('<?xml version="1.0"?><!DOCTYPE svg><svg/>')), 'svg');
    assert.equal(sniffNonImageType(Buffer.from('<?xml version="1.0"?><rss></rss>')), 'xml');
    assert.equal(sniffNonImageType(Buffer.from('<!DOCTYPE HTML><title>x</title>')), 'html');
    assert.equal(sniffNonImageType(Buffer.from('<html lang="en">')), 'html');
    assert.equal(sniffNonImageType(Buffer.from('%PDF-1.4\n')), 'pdf');
    assert.equal(sniffNonImageType(Buffer.from('Roses are red — fleurs 🌸\n')), 'text');
    assert.equal(sniffNonImageType(Buffer.from([0x00, 0x01, 0x02, 0xfe])), null);
  });
});

describe('blockedRange', () => {
  it('blocks special-purpose addresses and allows public unicast', () => {
    const blocked = {
      '127.0.0.1': 'loopback',
      '::1': 'loopback',
      '10.1.2.3': 'private',
      '172.31.255.255': 'private',
      '192.168.0.1': 'private',
      '100.100.100.100': 'carrierGradeNat',
      '169.254.169.254': 'linkLocal',
      'fe80::1': 'linkLocal',
      'fd12:3456::1': 'uniqueLocal',
      '0.0.0.0': 'unspecified',
      '::': 'unspecified',
      '224.0.0.251': 'multicast',
      'ff02::1': 'multicast',
      '255.255.255.255': 'broadcast',
      '::ffff:10.0.0.1': 'private', // IPv4-mapped judged as IPv4
      '64:ff9b::a9fe:a9fe': 'linkLocal', // NAT64 of 169.254.169.254
      '2002:7f00:1::': '6to4',
      'not-an-ip': 'invalid',
    };
    for (const [ip, range] of Object.entries(blocked)) assert.equal(blockedRange(ip), range, ip);
    for (const ip of ['93.184.216.34', '8.8.8.8', '2606:4700::1111', '::ffff:93.184.216.34', '64:ff9b::808:808']) {
      assert.equal(blockedRange(ip), null, ip);
    }
  });

  it('judges IPv4-compatible (::a.b.c.d) and IPv4-mapped IPv6 addresses by the IPv4 address inside', () => {
    const blocked = {
      '::7f00:1': 'loopback', // what URL makes of [::127.0.0.1]
      '::127.0.0.1': 'loopback',
      '::ffff:127.0.0.1': 'loopback',
      '::ffff:7f00:1': 'loopback',
      '::a00:1': 'private', // ::10.0.0.1
      '::c0a8:101': 'private', // ::192.168.1.1
      '::a9fe:a9fe': 'linkLocal', // ::169.254.169.254
      '::6440:1': 'carrierGradeNat',
      '::2': 'unspecified', // ::0.0.0.2
    };
    for (const [ip, range] of Object.entries(blocked)) assert.equal(blockedRange(ip), range, ip);
    for (const literal of ['[::127.0.0.1]', '[::ffff:127.0.0.1]', '[::7f00:1]', '[0:0:0:0:0:0:127.0.0.1]', '[::10.0.0.1]']) {
      const host = bareHostname(new URL(`http://${literal}:8080/photo.jpg`));
      assert.notEqual(blockedRange(host), null, `${literal} (${host})`);
    }
    assert.equal(blockedRange('::7f00:1', { allowLoopback: true }), null, 'loopback like ::ffff:127.0.0.1');
    assert.equal(blockedRange('::a00:1', { allowLoopback: true }), 'private');
    assert.equal(blockedRange('::808:808'), null, '::8.8.8.8 is judged as 8.8.8.8, as ipaddr.js parses ::8.8.8.8');
  });

  it('opens loopback or private ranges only on request; link-local never', () => {
    assert.equal(blockedRange('127.0.0.1', { allowLoopback: true }), null);
    assert.equal(blockedRange('::1', { allowLoopback: true }), null);
    assert.equal(blockedRange('10.0.0.1', { allowLoopback: true }), 'private');
    assert.equal(blockedRange('10.0.0.1', { allowPrivate: true }), null);
    assert.equal(blockedRange('fd00::1', { allowPrivate: true }), null);
    assert.equal(blockedRange('169.254.169.254', { allowPrivate: true, allowLoopback: true }), 'linkLocal');
  });
});

describe('formatBytes', () => {
  it('reads naturally', () => {
    assert.equal(formatBytes(512), '512 bytes');
    assert.equal(formatBytes(1024 * 1024), '1 MB');
    assert.equal(formatBytes(1_500_000), '1.5 MB');
    assert.equal(formatBytes(10 * 1024 * 1024), '10 MB');
    assert.equal(formatBytes(330_000_000), '330 MB');
  });
});
