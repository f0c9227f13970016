/**
 * pullCommands: the skopeo and podman commands the demo prints, exactly as they work against it
 * (a plain-HTTP gateway on loopback, so TLS verification is off), with a comment line before each
 * group. A command that is meant to be refused says so in a trailing shell comment. Pure.
 */
export interface DemoAccess {
  /** host:port of the gateway */
  readonly gateway: string;
  readonly publicImage: string;
  readonly privateImage: string;
  readonly username: string;
  readonly password: string;
  /** Where `skopeo copy` puts the private image (a directory of the demo's). */
  readonly pullDirectory: string;
}

export const REFUSED_MARK = '# refused: not logged in';

export function pullCommands(access: DemoAccess): string[] {
  const { gateway, username, password } = access;
  const image = (name: string) => `${gateway}/${name}`;
  return [
    '# anyone may pull the public image',
    `skopeo inspect --tls-verify=false docker://${image(access.publicImage)}`,
    `podman pull --tls-verify=false ${image(access.publicImage)}`,
    '',
    `# the private one is refused without credentials, and pulled with those of the user ${username}`,
    `skopeo inspect --tls-verify=false docker://${image(access.privateImage)}   ${REFUSED_MARK}`,
    `skopeo copy --src-tls-verify=false --src-creds ${username}:${password} docker://${image(access.privateImage)} dir:${access.pullDirectory}`,
    `podman login --tls-verify=false -u ${username} -p ${password} ${gateway}`,
    `podman pull --tls-verify=false ${image(access.privateImage)}`,
  ];
}
