// /forget: a member's votes and kept photos are removed and their identifications
// unlinked from them; a stored photo file goes only when no other member kept the same photo.
import fs from 'node:fs';
import path from 'node:path';
import type { Store } from '../storage/index.ts';

export interface MemberData {
  votes: number;
  contributions: number;
  predictions: number;
}

export interface ForgetOutcome extends MemberData {
  /** Photo files deleted (nobody else kept them). */
  filesDeleted: number;
  /** Photos of theirs that stay because other members kept the same photo. */
  sharedPhotos: number;
}

export class ForgetService {
  constructor(
    private readonly store: Store,
    private readonly contribDir: string,
  ) {}

  /** What forgetting this member would remove. */
  preview(userId: string): MemberData {
    return this.store.review.memberData(userId);
  }

  async forget(userId: string): Promise<ForgetOutcome> {
    const f = this.store.review.forget(userId);
    let filesDeleted = 0;
    for (const file of f.files) {
      // Only files under the contributions folder, whatever a row says.
      const abs = path.resolve(this.contribDir, file.path);
      if (!abs.startsWith(path.resolve(this.contribDir) + path.sep)) continue;
      try {
        await fs.promises.unlink(abs);
        filesDeleted++;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
    }
    return { votes: f.votes, contributions: f.contributions, predictions: f.predictions, filesDeleted, sharedPhotos: f.sharedPhotos };
  }
}
