/**
 * Latency histogram with bounded memory: values are recorded in microseconds into log-linear
 * buckets (exact below 1,024 µs, then 512 sub-buckets per power of two, i.e. within 0.2 %), so a run
 * of any length costs the same few hundred kilobytes and percentiles stay accurate.
 */
const SUB_BUCKET_BITS = 9;
const SUB_BUCKETS = 1 << SUB_BUCKET_BITS;
const LINEAR_LIMIT = SUB_BUCKETS * 2;
/** 2^36 µs is about 19 hours, far beyond any latency a run can see. */
const MAX_EXPONENT = 36;
const LINEAR_BITS = SUB_BUCKET_BITS + 1;
const BUCKET_COUNT = LINEAR_LIMIT + (MAX_EXPONENT - LINEAR_BITS) * SUB_BUCKETS;
const MAX_MICROS = 2 ** MAX_EXPONENT - 1;

export interface LatencySummary {
  count: number;
  minMs: number;
  meanMs: number;
  p50Ms: number;
  p95Ms: number;
  p99Ms: number;
  maxMs: number;
}

export class Histogram {
  private readonly counts = new Float64Array(BUCKET_COUNT);
  private total = 0;
  private sumMicros = 0;
  private minMicros = Number.POSITIVE_INFINITY;
  private maxMicros = 0;

  /** Records one latency given in milliseconds. */
  recordMs(ms: number): void {
    this.recordMicros(Math.round(ms * 1000));
  }

  recordMicros(value: number): void {
    const micros = Math.max(value, 0);
    this.counts[bucketOf(micros)]!++;
    this.total++;
    this.sumMicros += micros;
    if (micros < this.minMicros) this.minMicros = micros;
    if (micros > this.maxMicros) this.maxMicros = micros;
  }

  get count(): number {
    return this.total;
  }

  /** Adds another histogram's samples to this one. */
  merge(other: Histogram): void {
    for (let i = 0; i < BUCKET_COUNT; i++) this.counts[i]! += other.counts[i]!;
    this.total += other.total;
    this.sumMicros += other.sumMicros;
    this.minMicros = Math.min(this.minMicros, other.minMicros);
    this.maxMicros = Math.max(this.maxMicros, other.maxMicros);
  }

  /** The value (ms) below or at which `quantile` (0..1) of the samples lie; 0 when empty. */
  percentileMs(quantile: number): number {
    if (this.total === 0) return 0;
    if (quantile <= 0) return this.minMicros / 1000;
    if (quantile >= 1) return this.maxMicros / 1000;
    const rank = Math.ceil(quantile * this.total);
    let seen = 0;
    for (let i = 0; i < BUCKET_COUNT; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) {
        // A bucket's midpoint, clamped to what was actually observed.
        const value = Math.min(Math.max(bucketMidpoint(i), this.minMicros), this.maxMicros);
        return value / 1000;
      }
    }
    return this.maxMicros / 1000;
  }

  summary(): LatencySummary {
    const empty = this.total === 0;
    return {
      count: this.total,
      minMs: empty ? 0 : this.minMicros / 1000,
      meanMs: empty ? 0 : this.sumMicros / this.total / 1000,
      p50Ms: this.percentileMs(0.5),
      p95Ms: this.percentileMs(0.95),
      p99Ms: this.percentileMs(0.99),
      maxMs: empty ? 0 : this.maxMicros / 1000,
    };
  }
}

export function bucketOf(value: number): number {
  if (value < LINEAR_LIMIT) return Math.floor(value);
  const micros = Math.min(Math.floor(value), MAX_MICROS);
  const exponent = Math.floor(Math.log2(micros));
  const sub = Math.floor(micros / 2 ** (exponent - SUB_BUCKET_BITS)) - SUB_BUCKETS;
  return LINEAR_LIMIT + (exponent - LINEAR_BITS) * SUB_BUCKETS + sub;
}

function bucketMidpoint(index: number): number {
  if (index < LINEAR_LIMIT) return index;
  const offset = index - LINEAR_LIMIT;
  const exponent = Math.floor(offset / SUB_BUCKETS) + LINEAR_BITS;
  const sub = offset % SUB_BUCKETS;
  const width = 2 ** (exponent - SUB_BUCKET_BITS);
  return (SUB_BUCKETS + sub) * width + width / 2;
}
