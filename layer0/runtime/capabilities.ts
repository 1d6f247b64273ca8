// Docker's default capability set (moby oci/caps/defaults.go): what every container gets, no more.
export const DEFAULT_CAPABILITIES = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_FSETID',
  'CAP_FOWNER',
  'CAP_MKNOD',
  'CAP_NET_RAW',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETFCAP',
  'CAP_SETPCAP',
  'CAP_NET_BIND_SERVICE',
  'CAP_SYS_CHROOT',
  'CAP_KILL',
  'CAP_AUDIT_WRITE',
];

export function capabilitySet(caps: string[] = DEFAULT_CAPABILITIES) {
  return { bounding: caps, effective: caps, permitted: caps, inheritable: [] as string[], ambient: [] as string[] };
}
