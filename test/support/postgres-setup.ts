import type { TestProject } from 'vitest/node';
import { createDatabase } from './postgres.ts';

/** Global setup: one database for the whole run, dropped at its end. */
export default async function setup(project: TestProject) {
  const database = await createDatabase('run');
  project.provide('databaseUrl', database.url);
  return () => database.drop();
}
