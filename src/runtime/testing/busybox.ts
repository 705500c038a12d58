/**
 * A busybox root filesystem for runtime tests, built from the host's busybox-static (as
 * shared/fixtures/busybox-image.sh builds its image), so tests need no image store or registry.
 */
import { execFileSync } from 'node:child_process';
import { copyFile, mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export const BUSYBOX = '/bin/busybox';

let applets: string[] | undefined;

/** Users and groups the rootfs knows: root, app (1000, also in `extra` 2000), nobody. */
export const PASSWD = 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n';
export const GROUP = 'root:x:0:\napp:x:1000:\nextra:x:2000:app\nnogroup:x:65534:\n';

/**
 * Makes `dir` a rootfs: /bin/busybox with a link per applet, /etc/passwd and /etc/group, /tmp,
 * /home/app and /www/index.html.
 *
 * @example await busyboxRootfs(join(tmp, 'rootfs')) // then { rootfs, image: { Cmd: ['echo', 'hi'] } }
 */
export async function busyboxRootfs(dir: string): Promise<string> {
  applets ??= execFileSync(BUSYBOX, ['--list'], { encoding: 'utf8' }).split('\n').filter((a) => a && a !== 'busybox');
  for (const d of ['bin', 'etc', 'tmp', 'home/app', 'www', 'root']) await mkdir(join(dir, d), { recursive: true });
  await copyFile(BUSYBOX, join(dir, 'bin', 'busybox'));
  await Promise.all(applets.map((a) => symlink('busybox', join(dir, 'bin', a))));
  await writeFile(join(dir, 'etc', 'passwd'), PASSWD);
  await writeFile(join(dir, 'etc', 'group'), GROUP);
  await writeFile(join(dir, 'www', 'index.html'), 'hello from busybox\n');
  return dir;
}
