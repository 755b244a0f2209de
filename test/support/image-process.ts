import { readFileSync } from 'node:fs';
import { SiloProcess } from './silo-process';

/** The parts of `buildah inspect --type image` a run needs: what `docker run` would apply. */
interface ImageConfig {
  User?: string;
  Env?: string[];
  WorkingDir?: string;
  Cmd?: string[];
}

/**
 * The image built by `npm run image:check`, mounted at SILO_IMAGE_ROOTFS: its entry points run
 * from that root filesystem with chroot, as the image's user, in its working directory, with its
 * environment under the test's (as `docker run -e` would), and with the host's network.
 */
export class SiloImage {
  private constructor(
    readonly rootfs: string,
    private readonly config: ImageConfig,
  ) {}

  static fromEnvironment(): SiloImage {
    const rootfs = process.env.SILO_IMAGE_ROOTFS;
    const inspect = process.env.SILO_IMAGE_INSPECT;
    if (!rootfs || !inspect) {
      throw new Error(
        'SILO_IMAGE_ROOTFS and SILO_IMAGE_INSPECT are not set: run this through npm run image:check',
      );
    }
    const parsed = JSON.parse(readFileSync(inspect, 'utf8')) as { OCIv1: { config: ImageConfig } };
    return new SiloImage(rootfs, parsed.OCIv1.config);
  }

  get user(): string {
    return this.config.User ?? 'root';
  }

  /** uid:gid of the image's user, looked up in the image's own /etc/passwd. */
  userIds(): { uid: number; gid: number } {
    const name = this.user.split(':')[0];
    const line = readFileSync(`${this.rootfs}/etc/passwd`, 'utf8')
      .split('\n')
      .map((l) => l.split(':'))
      .find(([n, , uid]) => n === name || uid === name);
    if (!line) throw new Error(`user ${name} is not in the image's /etc/passwd`);
    return { uid: Number(line[2]), gid: Number(line[3]) };
  }

  get defaultCommand(): string[] {
    return this.config.Cmd ?? [];
  }

  /** Runs `command` (default: the image's CMD) from the image; `env` wins over the image's own. */
  run(env: Record<string, string>, command: string[] = this.defaultCommand): SiloProcess {
    const imageEnv = Object.fromEntries(
      (this.config.Env ?? []).map((pair) => [
        pair.slice(0, pair.indexOf('=')),
        pair.slice(pair.indexOf('=') + 1),
      ]),
    );
    const { uid, gid } = this.userIds();
    const workdir = this.config.WorkingDir ?? '/';
    // chroot changes to / inside; the shell moves to the working directory and execs the command,
    // so the pid the test holds is the entry point's own and signals reach it directly.
    return SiloProcess.spawn(
      '/usr/sbin/chroot',
      [`--userspec=${uid}:${gid}`, this.rootfs, '/bin/sh', '-c', 'cd "$0" && exec "$@"', workdir, ...command],
      { HOME: '/nonexistent', ...imageEnv, ...env },
    );
  }
}
