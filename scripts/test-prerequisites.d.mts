// Types for test/global-setup.ts, which asks the same module about the services.

export interface Program {
  name: string;
  command: string;
  env?: string;
  debian: string;
  usedBy: string;
}

export interface Service {
  name: string;
  env: string;
  url: string;
  check(url: string): Promise<void>;
}

export const PROGRAMS: Program[];
export const SERVICES: Service[];
export function locate(command: string): { path?: string; problem?: string };
export function missingPrograms(): Array<Program & { path?: string; problem?: string }>;
export function unreachableServices(): Promise<Array<Service & { problem: string }>>;
export function describeUnreachable(services: Array<Service & { problem: string }>): string;
