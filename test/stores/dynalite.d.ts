/** Minimal typings for dynalite (an in-memory DynamoDB emulator used by the DynamoDB store tests). */
declare module 'dynalite' {
  import type { Server } from 'node:http';
  interface DynaliteOptions {
    /** Milliseconds a CreateTable stays CREATING (0 = at once). */
    createTableMs?: number;
    deleteTableMs?: number;
    updateTableMs?: number;
    /** Directory for LevelDB storage; in memory when omitted. */
    path?: string;
  }
  export default function dynalite(options?: DynaliteOptions): Server;
}
