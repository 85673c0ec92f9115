// Who may call what: every authenticated connection carries one role, taken from its identity
// `<role>.<id>`, and each server declares which roles may call each of its methods. Pure: the
// transport asks mayCall() after a request's arguments have decoded.

const ROLES = ['server', 'admin', 'client'] as const;
export type Role = (typeof ROLES)[number];

/** The roles a server accepts by default, and per method where that differs. */
export interface AccessPolicy {
  readonly defaultRoles: readonly Role[];
  readonly methodRoles?: Readonly<Record<string, readonly Role[]>>;
}

function isRole(value: string): value is Role {
  return (ROLES as readonly string[]).includes(value);
}

/** Splits `<role>.<id>`; undefined when the role is unknown or the id empty or unsafe. */
export function parseIdentity(identity: string): { role: Role; id: string } | undefined {
  const dot = identity.indexOf('.');
  if (dot < 0) return undefined;
  const role = identity.slice(0, dot);
  const id = identity.slice(dot + 1);
  if (!isRole(role) || !/^[A-Za-z0-9_-]{1,64}$/.test(id)) return undefined;
  return { role, id };
}

export function mayCall(policy: AccessPolicy, method: string, role: Role): boolean {
  const allowed = policy.methodRoles?.[method] ?? policy.defaultRoles;
  return allowed.includes(role);
}
