import { randomBytes } from 'node:crypto';

export function randomNodeId(): string {
  return randomBytes(6).toString('hex');
}
