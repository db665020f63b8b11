import type { LatencySummary } from './histogram.js';
import type { Row } from './scenario.js';

export function formatInt(value: number): string {
  return Math.round(value).toLocaleString('en-US');
}

export function formatNumber(value: number, digits = 2): string {
  return value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

export function formatMs(value: number): string {
  return `${value < 10 ? value.toFixed(2) : value < 100 ? value.toFixed(1) : Math.round(value)} ms`;
}

export function formatKiB(bytes: number): string {
  return `${formatNumber(bytes / 1024, 1)} KiB`;
}

export function formatMiB(bytes: number): string {
  return `${formatNumber(bytes / 1024 / 1024, 1)} MiB`;
}

export function latencyRow(label: string, latency: LatencySummary): Row {
  return {
    label,
    value:
      latency.count === 0
        ? 'no samples'
        : `p50 ${formatMs(latency.p50Ms)}  p95 ${formatMs(latency.p95Ms)}  p99 ${formatMs(latency.p99Ms)}  max ${formatMs(latency.maxMs)}`,
  };
}

/** Two aligned columns, a title line on top. */
export function renderTable(title: string, rows: Row[]): string {
  const width = Math.max(...rows.map((r) => r.label.length), 10);
  const lines = [title, '-'.repeat(Math.min(100, title.length))];
  for (const row of rows) lines.push(`${row.label.padEnd(width)}  ${row.value}`);
  return `${lines.join('\n')}\n`;
}
