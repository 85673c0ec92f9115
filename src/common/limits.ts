// Every limit of quorumfs in one place. Passing one is a typed error (QfsError), never unbounded
// memory or an unbounded wait. Units are last in every name.

const KiB = 1024;
const MiB = 1024 * KiB;

export const limits = {
  /** File data is cut into blocks of this size; the last block of a file may be shorter. */
  blockSizeBytes: 1 * MiB,
  /** Blocks of at most this many data bytes are written and read by a data server with
   * synchronous calls on its event loop when nothing else is in flight (block-file-io.ts,
   * BlockStore.ioFor): each call costs less than a thread-pool round trip. Larger blocks would
   * hold the loop for milliseconds; 256 KiB bought nothing measurable. */
  inlineBlockIoMaxBytes: 64 * KiB,
  /** Largest payload one frame may carry (a block plus room). */
  maxPayloadBytes: 4 * MiB,
  /** Blocks one write call may touch (each is read, merged and held in memory at once). */
  maxBlocksPerWrite: 32,
  /** Extents one write call may carry. */
  maxExtentsPerWrite: 1024,
  /** Kernel readahead a mount asks for (sysfs; root only): whole blocks, several in flight. */
  mountReadaheadBytes: 16 * MiB,
  /** Setting it waits for the kernel's INIT, then checks it held this often, up to this long. */
  readaheadCheckIntervalMs: 10,
  readaheadSettleTimeoutMs: 5_000,
  /** Largest msgpack header of one frame. */
  maxHeaderBytes: 256 * KiB,
  /** Largest whole frame: header plus payload plus the fixed prefix. */
  maxFrameBytes: 4 * MiB + 256 * KiB + 16,
  /** Requests one connection may have outstanding at a server; more get TOO_MANY_REQUESTS. */
  maxInFlightPerConnection: 1024,
  /** Requests a client may have outstanding on one connection before callers wait. */
  maxPendingPerClient: 4096,
  /** Bytes queued for sending on one client connection before callers wait. */
  maxQueuedSendBytes: 64 * MiB,
  /** Connections one server accepts at once. */
  maxConnections: 512,
  /** Connections one server accepts at once from one peer address (one host runs a mediator,
   * a few mounts and the command line: far fewer); more are closed at accept. */
  maxConnectionsPerPeer: 128,
  /** Reply bytes a server lets queue on one connection before it stops reading that connection
   * until the peer has taken them: a peer that never reads cannot grow the server's memory.
   * Requests already in flight still add their replies (at most maxInFlightPerConnection). */
  maxQueuedReplyBytesPerConnection: 8 * MiB,
  /** Bytes queued on one connection past which pushing an event (an invalidation) closes the
   * connection instead: a peer that reads nothing must not hold events without bound. */
  maxQueuedEventBytesPerConnection: 32 * MiB,
  /** A server connection with nothing in flight that sends no frame for this long is closed.
   * Well above the mount's keep-alive (mountKeepAliveIntervalMs) and the mediator's heartbeats;
   * any RpcClient reconnects on its next call. */
  idleConnectionTimeoutMs: 10 * 60_000,
  /** A frame whose first byte arrived this long ago and that is still incomplete closes its
   * connection (slowloris): a whole 4 MiB frame needs about 140 KB/s to arrive in time. */
  partialFrameTimeoutMs: 30_000,
  /** After a server ends a connection, it destroys it if the peer has not taken the last bytes
   * within this time (a peer that does not read would otherwise hold it half-closed). */
  connectionCloseGraceMs: 1_000,
  /** The mount pings the mediator this often, so its connection, which carries the
   * invalidations, is never idle long enough to be closed. */
  mountKeepAliveIntervalMs: 60_000,
  /** A directory entry name, in bytes (NAME_MAX). */
  maxNameBytes: 255,
  /** A whole path, in bytes, including the terminating NUL (PATH_MAX). */
  maxPathBytes: 4096,
  /** A symlink target, in bytes. */
  maxSymlinkBytes: 4095,
  /** A block key on a data server. */
  maxKeyBytes: 128,
  /** Extended attributes: name and value sizes (as Linux's XATTR_NAME_MAX / XATTR_SIZE_MAX). */
  maxXattrNameBytes: 255,
  maxXattrValueBytes: 64 * KiB,
  /** Entries returned by one readdir call. */
  maxReaddirEntries: 1024,
  /** Blocks named in one block-map read or commit: an entry encodes to at most about 120 bytes,
   * so a page stays far below maxHeaderBytes. */
  maxBlocksPerCall: 1024,
  /** Encoded bytes one page of a listing (a data server's keys, the committed blocks) may take;
   * a page ends at this budget or at maxListEntries, whichever comes first. */
  listPageBytes: 128 * KiB,
  /** Entries one listing page may hold. */
  maxListEntries: 4096,
  /** Pieces one patch of a block may lay over its base (each costs about 10 bytes of header). */
  maxPiecesPerPatch: 1024,
  /** Deltas a data server stacks on a block before it writes one whole (each read of the block
   * reads every file of its chain; a delta's base is kept until no delta needs it). */
  maxDeltaChain: 8,
  /** A write sends a block as a patch of the version before, rather than whole, only when it
   * changes at most this share of the block's extents (a data server stores such a patch as a
   * delta on the same condition). */
  patchMaxChangedShare: 0.5,
  /** Blocks one batched check (`have`, `verifyMany`, committed versions) may name. */
  maxBlocksPerBatch: 1024,
  /** Block files a data server reads at once for one `verifyMany`. */
  verifyConcurrency: 8,
  /** Blocks one `explain` page describes (each is verified on every server). */
  maxExplainBlocksPerPage: 256,
  /** Write misses remembered per data server; past this the server is healed by a full compare
   * instead, so the memory they take stays bounded whatever the number of blocks. */
  maxRecordedMissesPerServer: 100_000,
  /** Deadline of each call a heal, scrub or miss repair makes (a page, a copy, a verify batch). */
  repairCallTimeoutMs: 30_000,
  /** A scrub's verifyMany batch stops at this many bytes, so one call reads a bounded amount. */
  verifyBatchBytes: 32 * MiB,
  /** Recorded write misses are tried again this often. */
  missRepairIntervalMs: 500,
  /** A write that missed its quorum is sent again (to the servers live then) up to this many
   * times in all, after a pause that lets the failure detector see the server that failed. */
  writeMaxAttempts: 3,
  writeRetryDelayMs: 50,
  /** Deadline of rewriting a bad replica a read found (in the background, not the reader's). */
  readRepairTimeoutMs: 10_000,
  /** Block versions a commit or unlink freed are deleted this long after, so a read that fetched
   * the old block map just before can still finish. */
  orphanGraceMs: 1_000,
  /** How often a write waiting for a replacement data server looks again. */
  liveWaitPollMs: 20,
  /** Block copies a heal or scrub repair has in flight at once. */
  healConcurrency: 64,
  /** A failed heal is tried again after this delay, doubled each time up to the maximum. */
  healRetryFirstDelayMs: 1_000,
  healRetryMaxDelayMs: 30_000,
  /** Orphan candidates a scrub pass remembers per server for the next pass (two-pass rule);
   * candidates past it wait for a later pass. */
  maxOrphanCandidatesPerServer: 100_000,
  /** Default deadline of a call that has none of its own. */
  defaultCallTimeoutMs: 5_000,
  /** Pauses before a client sends a call again (by attempt; the last repeats), while its
   * deadline allows. */
  rpcRetryBackoffMs: [20, 50, 100, 200, 400],
  /** Deadline of connecting to a peer. */
  connectTimeoutMs: 2_000,
  /** A client given several addresses of one service (mediators) waits this long, by round (the
   * last repeats), once every address answered NOT_LEADER or failed, before it goes round again;
   * it takes at most maxPeerAddresses of them. */
  failoverRoundBackoffMs: [50, 100, 200, 400],
  maxPeerAddresses: 16,
  /** A server sends a keepalive event at least this often on a connection with requests in
   * flight or a request frame partly received (nothing on an idle one), so its clients can tell
   * a slow call from a dead connection. */
  rpcKeepaliveMs: 500,
  /** A client that fails over (several addresses or a resolver) drops a connection from which
   * nothing arrived for this long while it had calls outstanding, and moves on (a host cut off
   * the network sends no reset). Four keepalives: a server's busy event loop is not a death. */
  rpcSilenceMs: 2_000,
  /** Data servers are pinged this often by the mediator. */
  heartbeatIntervalMs: 200,
  /** How old the space figures a data server's heartbeat reports may be (they are refreshed
   * behind the heartbeat, never in its way). */
  heartbeatUsageMaxAgeMs: 1_000,
  /** How long a data server may answer nothing before its heartbeats that time out count as
   * missed (a refused connection counts at once). */
  silenceBeforeMissesMs: 3_000,
  /** Heartbeats missed in a row before a data server counts as down. */
  heartbeatMissesBeforeDown: 3,
  /** Verified blocks the mediator keeps in memory for repeated and partial reads. */
  mediatorBlockCacheBytes: 128 * MiB,
  /** Block keys whose freed versions the mediator deletes at once (each a call per server and
   * version): far below maxInFlightPerConnection. */
  orphanDeletesInFlight: 32,
  /** Freed block versions in one event from the metadata server to the mediator (about 30
   * bytes each, against maxHeaderBytes); a larger set goes in several. */
  maxOrphansPerEvent: 4_096,
  /** Servers one status or readTargets reply lists at most. */
  maxServersListed: 1024,
  /** Cluster events the mediator keeps for `quorumfs events` (the oldest are dropped). */
  maxEventsKept: 4_096,
  /** Events one `events` reply carries at most. */
  maxEventsPerPage: 256,
  /** How long one `events` call may wait for a new event (a follower calls again). */
  maxEventWaitMs: 30_000,
  /** An `events` long poll answers this long before its caller's deadline. */
  eventWaitMarginMs: 1_000,
  /** Characters of an event's message kept at most. */
  maxEventMessageChars: 1_024,
  // ---- the web status page (services/status-page.ts) ----
  /** How far ahead a sign-in link of `quorumfs status-page` may expire: a link is a bearer
   * token until it is used, so it lives minutes, not days. */
  statusPageLinkTtlMs: 10 * 60_000,
  /** A status page request's headers, and the whole request, must arrive within these (a
   * stream's response is not bounded by them). */
  statusPageHeadersTimeoutMs: 10_000,
  statusPageRequestTimeoutMs: 30_000,
  /** How far the clock of the host that made a sign-in link may run ahead of the mediator's:
   * a link made elsewhere is accepted up to this much past statusPageLinkTtlMs ahead. */
  statusPageClockSkewMs: 60_000,
  /** Sign-in links remembered as used (each until its expiry): a link works once. Past this,
   * sign-ins are refused until the oldest expire, never forgotten early. */
  statusPageUsedLinksKept: 4_096,
  /** Browser sessions held at once; the least recently used goes first past this. */
  statusPageMaxSessions: 256,
  /** A session unused this long is forgotten (the page's stream keeps its session in use). */
  statusPageSessionIdleMs: 12 * 3600_000,
  /** Live streams (server-sent events) open at once; one more is refused 503. */
  statusPageMaxStreams: 64,
  /** How often each stream gets the status, and a keepalive comment when nothing else went. */
  statusPagePushIntervalMs: 1_000,
  statusPageKeepaliveMs: 15_000,
  /** Bytes queued on one stream past which it is closed: a tab that reads nothing holds no memory. */
  statusPageStreamBufferBytes: 1 * MiB,
  /** Events the page's snapshot carries (newest). */
  statusPageEventsShown: 100,
  /** Bytes of a request's URL and headers the page server reads at most (node's own bound is 16 KiB). */
  statusPageMaxHeaderBytes: 8 * KiB,
  /** Width of one point of the throughput and latency history, and points kept (10 minutes). */
  loadPointIntervalMs: 1_000,
  loadPointsKept: 600,
  /** Data servers whose load counters are tracked at once; one silent longer than the history is forgotten. */
  loadServersTracked: 1024,

  /** Blocks the mediator committed, kept as the base of the next partial write of them. */
  mediatorCommittedBlockCacheBytes: 64 * MiB,
  /** Times a write is planned from the metadata when its commit keeps finding the blocks it
   * merged into changed by another writer (STALE) before it fails STALE. */
  writeStaleAttempts: 5,
  /** Inodes whose size and block refs the mediator remembers from its own creates and commits,
   * so a write it can plan from them skips the metadata read (least recently used dropped). */
  mediatorWriteStateInodes: 4096,
  /** Block refs remembered per such inode (the most recently committed kept): one write's worth,
   * enough for the partial last block of a sequential writer. */
  mediatorWriteStateRefsPerInode: 32,
  /** A block version nothing refers to is deleted by the scrubber only once passes have seen it
   * so for at least this long, counted from the first that did (however often passes run):
   * longer than any write takes to commit. */
  orphanMinAgeMs: 60_000,
  /** A data server with less free space than this counts as full in status (about what one more
   * block takes: its bytes, its header and the file system's rounding). Such a server still
   * takes writes: space may come back. */
  dataServerSpaceReserveBytes: 1 * MiB + 64 * KiB,
  /** Versions the mediator reserves from the metadata server at once. */
  versionReserveBatch: 10_000,
  /** A mount's session id (the key of its holds on open inodes), in bytes. */
  maxSessionIdBytes: 64,
  /** Inodes one mount may hold open at once: its whole set is restated in one call when it
   * reconnects, which must fit a frame header (about 5 bytes each). More opens get ENFILE. */
  maxHoldsPerSession: 16_384,
  /** Sessions with holds the metadata server lists at once (one per mount). */
  maxHoldSessions: 4_096,
  /** A session whose connection closed and was not resumed within this time is gone: its holds
   * are released and unlinked inodes only it held are deleted. */
  sessionGraceMs: 30_000,
  /** How often an idle mount checks its connection to the mediator and reconnects (which
   * resumes its session); far below sessionGraceMs. */
  sessionKeepaliveMs: 1_000,
  /** A TLS handshake not finished within this is dropped: an unauthenticated peer holds a
   * connection slot no longer. */
  tlsHandshakeTimeoutMs: 5_000,
  /** Credential files (and the cluster secret, the revoked-ids file) bigger than this are refused. */
  maxCredentialFileBytes: 64 * KiB,
  /** Credential files looked at in the standard place when dialling a peer. */
  maxClusterCredentialFiles: 1_000,
  /** A FUSE session being unmounted waits up to this long for requests in flight to be
   * answered (FuseSession's default drainTimeoutMs). */
  fuseDrainTimeoutMs: 200,
  /** How often that wait looks whether the requests in flight are done. */
  fuseDrainPollMs: 5,
  /** How often an ending FUSE session repeats its exit signal (the loop thread may miss one). */
  fuseExitRetryMs: 20,
  /** fusermount3 or umount clearing a stale mount is killed after this long. */
  staleUnmountTimeoutMs: 10_000,
  /** Sends of one inode's write-back buffer in flight at once; more writes wait. */
  maxWriteBackSendsInFlight: 4,
  /** Inodes a mount remembers where their last read ended, to tell sequential reads from
   * random ones (forgotten all at once past this). */
  mountReadEndsKept: 4096,
  /** Block versions a mount remembers as read in part, so a second random read fetches the
   * block whole (the oldest forgotten first past this). */
  mountReadInPartKept: 4096,
  /** Write-back sends of a whole mount in flight at once (up to 4 MiB each): about a second of
   * work for a cluster writing 30 MiB/s, well inside a call's deadline. */
  mountWriteSendsInFlight: 8,
  /** Buffer space (allocated, not just used) one inode's unsent extents may hold, in full
   * extents. */
  maxWriteBackBufferedExtents: 4,
  /** A write-back extent starts at least this big (or as big as its first write) and grows
   * (doubling) up to the extent size. */
  writeBackInitialExtentBytes: 4 * KiB,
  /** How long an unmount waits for the mediator to end the session's holds. */
  mountEndSessionTimeoutMs: 1_000,
  /** A mount's pings of the mediator (at mount and as keep-alive) wait at most this long, even
   * when its call timeout is longer. */
  mountPingTimeoutMs: 5_000,
  /** Inodes whose missing extended attributes a mount remembers; past this the oldest go. */
  maxXattrAbsenceInodes: 65_536,
  /** Directory attributes a mount keeps prefetched at once; past this the oldest go. */
  maxDirAttrPrefetches: 1024,
  /** Names a mount keeps of the directories it knows whole (known-names.ts; about 100 bytes
   * each); a directory that would pass it is forgotten, and its lookups go to the mediator. */
  mountKnownNamesMax: 200_000,
  /** Verified blocks a mount keeps for its own reads of replicas (direct-read.ts). */
  mountBlockCacheBytes: 64 * MiB,
  /** A mount asks the mediator which data servers are live at most this often. */
  mountReadTargetsTtlMs: 1_000,
  /** A mount's own read of a replica waits at most this long before the mediator reads. */
  mountDirectReadTimeoutMs: 3_000,
  /** Blocks of a file's map a mount fetches past those a read needs, to use for the reads that
   * follow while the map is fresh (the attribute timeout): 256 refs, about 30 KiB. */
  mountBlockMapWindowBlocks: 256,
  /** Files whose block maps a mount keeps (the least recently fetched dropped first). */
  mountBlockMapsKept: 256,
  /** A mount's own write of a file's blocks and block map (direct-write.ts) is given this long
   * before the mediator is asked to make it instead. */
  mountDirectWriteTimeoutMs: 5_000,
  /** Blocks a mount committed itself, kept as the base of its next partial write of them (as
   * much as the mediator keeps: with less, random writes over a 64 MiB file read their bases
   * from replicas, 13% fewer IOPS at 32 MiB). */
  mountCommittedBlockCacheBytes: 64 * MiB,
  /** Blocks a mount read by quorum to merge a partial write into (not its reads' cache). */
  mountMergeBlockCacheBytes: 16 * MiB,
  /** Replica problems one report from a mount to the mediator carries; more go in several. */
  maxReplicaReports: 1024,
  /** A report the mediator did not take is sent again after this long. */
  mountReplicaReportRetryMs: 1_000,
  /** Replica problems a mount keeps to report while the mediator cannot be reached; past this
   * the newest are dropped (the scrubber finds them). */
  mountReplicaReportsKept: 65_536,
  /** A server child process (metadata or data server) must report ready within this. */
  childReadyTimeoutMs: 10_000,
  /** Waits before restarting a metadata server child that died, by attempt (the last repeats). */
  metaRestartBackoffMs: [50, 200, 500, 1_000, 2_000],
  /** A child process told to stop is killed if it has not exited within this. */
  childStopGraceMs: 3_000,
  /** How long an SQLite statement waits for another connection's lock before SQLITE_BUSY. */
  sqliteBusyTimeoutMs: 5_000,
  /** Inode capacity the metadata store reports; SQLite has no real limit short of the disk. */
  metaStoreReportedInodes: 2 ** 32,
  /** Space an in-memory metadata store reports: 1 TiB. */
  memoryMetaStoreSpaceBytes: 2 ** 40,
  /** Walking up more directories than this means a cycle in the tree: a bug, not a deep tree. */
  maxTreeDepth: 1_000_000,
  /** A readdir page must fit one frame header even with every entry's attributes (readdirplus):
   * each entry counts its name plus this allowance (an encoded entry with its attributes takes
   * about 200 bytes more than its name), against half of maxHeaderBytes. */
  readdirEntryAllowanceBytes: 256,
  /** Call timeout of the command line's status and admin commands. */
  cliCallTimeoutMs: 5_000,
  /** Call timeout of the heal and scrub commands' ordinary calls. */
  repairCommandCallTimeoutMs: 10_000,
  /** A waited-for heal or scrub pass may take this long (a day) before the command gives up. */
  repairPassTimeoutMs: 24 * 3600 * 1000,
  /** How often a waiting heal or scrub command asks for progress. */
  repairPollIntervalMs: 250,
  /** Without a terminal, a waiting heal or scrub command prints progress at most this often. */
  repairProgressLineIntervalMs: 1_000,

  // ---- etcd engine (EtcdMetaStore): within etcd's default 128 operations and 1.5 MiB a request ----
  /** Deadline of each etcd call; past it the store fails TIMEOUT. */
  etcdCallTimeoutMs: 5_000,
  /** Times a transaction is tried when other writers changed what it read; then UNAVAILABLE. */
  etcdTxnAttempts: 16,
  /** Backoff before a retry: a random wait up to this, doubled each attempt (full jitter)… */
  etcdTxnBackoffMs: 2,
  /** …up to this: writers contending for one directory spread out instead of failing. */
  etcdTxnBackoffMaxMs: 200,
  /** Block-map entries per etcd key: a 1,024-block commit writes 16 chunk keys. */
  etcdBlocksPerChunk: 64,
  /** Chunk keys one commitBlocks may write (its blocks scattered wider: INVALID). */
  etcdMaxChunksPerCommit: 100,
  /** Keys read per etcd range call: bounds what one call holds in memory. */
  etcdRangePageKeys: 512,
  /** Inode numbers a process takes from the shared counter at once. */
  etcdInodeBatch: 256,
  /** Counter shards for the inode, block and byte totals (a change picks one at random). */
  etcdCounterShards: 16,
  /** Holds set per transaction by setHolds (two keys each). */
  etcdHoldsPerTxn: 40,
  /** Holds dropped per transaction by setHolds (each may delete an inode). */
  etcdDropsPerTxn: 12,

  // ---- metrics (Prometheus text format, --metrics-port) ----
  /** Connections the metrics endpoint keeps open at once (a scraper needs one or two). */
  maxMetricsConnections: 16,
  /** A scrape's request must arrive whole within this, and the figures it reads (the mediator's
   * status, a data server's statfs) must come within metricsFiguresTimeoutMs, or go unshown. */
  metricsRequestTimeoutMs: 10_000,
  metricsFiguresTimeoutMs: 2_000,
  /** Data servers one /targets document lists at most (as status: maxServersListed). */
  maxScrapeTargets: 1024,

  // ---- several mediators on one etcd ----
  /** How long a mediator's client waits to connect to an etcd member. */
  etcdDialTimeoutMs: 2_000,
  /** The leader's lease (seconds, etcd's minimum is about 2 with its default timing): a dead
   * leader is replaced within about this, plus an election. */
  leaderLeaseTtlS: 2,
  /** The leader confirms its election key this many times per lease... */
  leaderConfirmsPerLease: 4,
  /** ...and steps down once etcd has not confirmed it for this fraction of the lease (before
   * etcd can let the lease lapse and elect another). */
  leaderStepDownLeaseFraction: 0.75,
  /** A failed or lost campaign is tried again after this fraction of the lease. */
  leaderRecampaignLeaseFraction: 0.25,
  /** How often the leader looks for data servers that joined. */
  joinsPollMs: 500,
  /** How long a data server started with --join waits between attempts to reach a mediator. */
  joinRetryMs: 1_000,
} as const;
