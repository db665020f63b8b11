import { describe, expect, it } from 'vitest';
import { bucketOf, Histogram } from './histogram.js';

/** Exact percentile by the same rank rule the histogram uses. */
function exact(sorted: number[], quantile: number): number {
  return sorted[Math.max(0, Math.ceil(quantile * sorted.length) - 1)]!;
}

describe('Histogram', () => {
  it('reports zeros when empty', () => {
    expect(new Histogram().summary()).toEqual({
      count: 0,
      minMs: 0,
      meanMs: 0,
      p50Ms: 0,
      p95Ms: 0,
      p99Ms: 0,
      maxMs: 0,
    });
  });

  it('is exact for small values', () => {
    const h = new Histogram();
    for (let i = 1; i <= 100; i++) h.recordMicros(i);
    expect(h.percentileMs(0.5)).toBe(0.05);
    expect(h.percentileMs(0.99)).toBe(0.099);
    expect(h.summary().minMs).toBe(0.001);
    expect(h.summary().maxMs).toBe(0.1);
    expect(h.summary().meanMs).toBeCloseTo(0.0505, 6);
  });

  it('keeps percentiles within 0.5 % over a wide range', () => {
    const h = new Histogram();
    const values: number[] = [];
    let seed = 42;
    const random = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    for (let i = 0; i < 20_000; i++) {
      // Log-uniform from 1 µs to 100 s.
      const micros = Math.round(10 ** (random() * 8));
      values.push(micros);
      h.recordMicros(micros);
    }
    values.sort((a, b) => a - b);
    for (const q of [0.1, 0.5, 0.9, 0.95, 0.99, 0.999]) {
      const expected = exact(values, q) / 1000;
      expect(Math.abs(h.percentileMs(q) - expected) / expected).toBeLessThan(0.005);
    }
  });

  it('records milliseconds and clamps negative values to zero', () => {
    const h = new Histogram();
    h.recordMs(12.5);
    h.recordMicros(-3);
    expect(h.summary().maxMs).toBe(12.5);
    expect(h.summary().minMs).toBe(0);
    expect(h.count).toBe(2);
  });

  it('merges samples from another histogram', () => {
    const a = new Histogram();
    const b = new Histogram();
    a.recordMs(1);
    b.recordMs(100);
    b.recordMs(200);
    a.merge(b);
    expect(a.count).toBe(3);
    expect(a.summary().maxMs).toBe(200);
    expect(a.percentileMs(0.5)).toBeCloseTo(100, 0);
  });
});

describe('bucketOf', () => {
  it('is monotonic and never out of range, even for absurd values', () => {
    let previous = -1;
    for (let v = 0; v < 2 ** 40; v = v < 4096 ? v + 1 : Math.floor(v * 1.001) + 1) {
      const bucket = bucketOf(v);
      expect(bucket).toBeGreaterThanOrEqual(previous);
      previous = bucket;
    }
    expect(bucketOf(2 ** 53)).toBe(bucketOf(2 ** 36));
  });
});
