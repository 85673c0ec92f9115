// Each data server's disk space as the mediator knows it, fed by heartbeats (capacity and free
// bytes) and by how every put of a write ended (NO_SPACE marks a server full, a stored block
// clears the mark); read by status and by statfs. The decisions are in core/capacity.ts.

import type { ErrorCode } from '../common/errors.js';
import { UNKNOWN_SPACE, isFull, spaceAfterPut, spaceAfterReport, usableSpace, type ServerSpace, type UsableSpace } from '../core/capacity.js';

export interface ServerSpaceStatus {
  /** Absent while unknown: status never shows 0 for a size nobody reported. */
  capacityBytes?: number;
  freeBytes?: number;
  full: boolean;
}

export class SpaceTracker {
  private readonly spaces = new Map<string, ServerSpace>();

  /** `reserveBytes`: less free space than this counts as full. */
  constructor(private readonly reserveBytes: number) {}

  /** A heartbeat's report; a field left out keeps its last known value. */
  reported(id: string, report: { capacityBytes?: number | undefined; freeBytes?: number | undefined }): void {
    this.spaces.set(id, spaceAfterReport(this.of(id), report, this.reserveBytes));
  }

  /** How a put to the server ended: undefined when stored, else its error code. */
  putSettled(id: string, code: ErrorCode | undefined): void {
    const outcome = code === undefined ? 'stored' : code === 'NO_SPACE' ? 'noSpace' : 'other';
    const before = this.of(id);
    const after = spaceAfterPut(before, outcome);
    if (after !== before) this.spaces.set(id, after);
  }

  /** The server is down or gone: what it reported last says nothing about now. */
  forget(id: string): void {
    this.spaces.delete(id);
  }

  statusOf(id: string): ServerSpaceStatus {
    const space = this.of(id);
    const status: ServerSpaceStatus = { full: isFull(space, this.reserveBytes) };
    if (space.capacityBytes !== undefined) status.capacityBytes = space.capacityBytes;
    if (space.freeBytes !== undefined) status.freeBytes = space.freeBytes;
    return status;
  }

  /** What the cluster can store, given the servers writes go to now. */
  usable(writableIds: readonly string[], writeQuorum: number): UsableSpace {
    return usableSpace(writableIds.map((id) => this.of(id)), writeQuorum);
  }

  private of(id: string): ServerSpace {
    return this.spaces.get(id) ?? UNKNOWN_SPACE;
  }
}
