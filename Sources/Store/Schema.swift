/// The database an analysis leaves behind; documented in docs/schema.md.
public enum Schema {
    public static let version = 2

    public static let create = """
        PRAGMA user_version = \(version);
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE inputs (
            id INTEGER PRIMARY KEY, path TEXT NOT NULL, sha256 TEXT, format TEXT, compression TEXT,
            bytes INTEGER, compressed_bytes INTEGER, records INTEGER, route_events INTEGER,
            attribute_errors INTEGER, first_time_us INTEGER, last_time_us INTEGER, damaged INTEGER NOT NULL DEFAULT 0,
            skipped TEXT);
        CREATE TABLE decode_errors (
            input_id INTEGER, byte_offset INTEGER, message TEXT NOT NULL, recovered INTEGER NOT NULL,
            kind TEXT NOT NULL);
        CREATE TABLE monitored_routers (input_id INTEGER, router INTEGER, sys_name TEXT, sys_descr TEXT);
        CREATE TABLE observation_points (
            id INTEGER PRIMARY KEY, router INTEGER, table_name TEXT, distinguisher INTEGER, peer_ip TEXT,
            peer_as INTEGER, peer_bgp_id TEXT);
        CREATE TABLE pes (
            id INTEGER PRIMARY KEY, address TEXT NOT NULL, pe_source TEXT NOT NULL, live_macs INTEGER,
            ethernet_segments TEXT,
            imet_routes INTEGER, sessions_down INTEGER, first_seen_us INTEGER, last_seen_us INTEGER);
        CREATE TABLE broadcast_domains (id INTEGER PRIMARY KEY, label TEXT NOT NULL, route_targets TEXT,
        ethernet_tag INTEGER);
        CREATE TABLE route_events (
            time_us INTEGER NOT NULL, input_id INTEGER, byte_offset INTEGER, observation_id INTEGER,
            event TEXT NOT NULL,
            family TEXT NOT NULL, route_type INTEGER, rd TEXT, esi TEXT, eth_tag INTEGER, mac TEXT, ip TEXT,
            prefix TEXT,
            next_hop TEXT, seq INTEGER, sticky INTEGER, route_targets TEXT, originator_id TEXT, path_id INTEGER,
            seen_at TEXT);
        CREATE TABLE route_event_blocks (
            id INTEGER PRIMARY KEY, first_time_us INTEGER, last_time_us INTEGER, events INTEGER, mac_filter BLOB,
            data BLOB);
        CREATE TABLE mac_state (
            bd_id INTEGER NOT NULL, mac TEXT NOT NULL, winner_pe INTEGER, winner_seq INTEGER, moves INTEGER,
            advertisers TEXT, ips TEXT, first_seen_us INTEGER, last_change_us INTEGER,
            PRIMARY KEY (mac, bd_id)) WITHOUT ROWID;
        CREATE TABLE moves (
            id INTEGER NOT NULL, time_us INTEGER NOT NULL, bd_id INTEGER, mac TEXT NOT NULL, from_pe INTEGER,
            to_pe INTEGER,
            seq_before INTEGER, seq_after INTEGER, tie INTEGER, wrap INTEGER, input_id INTEGER, byte_offset INTEGER,
            PRIMARY KEY (mac, time_us, id)) WITHOUT ROWID;
        CREATE TABLE incidents (
            id INTEGER PRIMARY KEY, title TEXT NOT NULL, severity TEXT NOT NULL, first_time_us INTEGER,
            last_time_us INTEGER,
            pes TEXT, bds TEXT, mac_count INTEGER, macs TEXT, rules TEXT, cause TEXT, next_step TEXT, kind TEXT,
            impact INTEGER);
        CREATE TABLE findings (
            id INTEGER PRIMARY KEY, rule TEXT NOT NULL, severity TEXT NOT NULL,
            incident_id INTEGER REFERENCES incidents(id),
            bd_id INTEGER, mac TEXT, ip TEXT, pes TEXT, first_time_us INTEGER, last_time_us INTEGER, count INTEGER,
            detail TEXT);
        CREATE TABLE data_quality (
            rule TEXT NOT NULL, subject TEXT NOT NULL, count INTEGER, input_id INTEGER, byte_offset INTEGER,
            detail TEXT);
        CREATE TABLE evidence (
            finding_id INTEGER REFERENCES findings(id), time_us INTEGER, pe INTEGER, seq INTEGER, sticky INTEGER,
            esi TEXT,
            ip TEXT, event TEXT, input_id INTEGER, byte_offset INTEGER, observation_id INTEGER);
        """

    /// Built after the bulk inserts: faster than maintaining them row by row. mac_state and moves
    /// need none: keyed by MAC (WITHOUT ROWID), each is its own index, a third of their size
    /// on a million-MAC fabric; moves' time order is its `id`.

    /// Moves arrive in time order and are stored in MAC order: they wait here, in the temporary
    /// database, until `moveStaged` sorts them into `moves` once (random inserts into a
    /// MAC-ordered tree would cost a page read per move).
    public static let movesStaging = """
        CREATE TEMP TABLE moves_staging (
            time_us INTEGER NOT NULL, bd_id INTEGER, mac TEXT NOT NULL, from_pe INTEGER, to_pe INTEGER,
            seq_before INTEGER, seq_after INTEGER, tie INTEGER, wrap INTEGER, input_id INTEGER, byte_offset INTEGER);
        """
    public static let moveStaged = """
        INSERT INTO moves(id, time_us, bd_id, mac, from_pe, to_pe, seq_before, seq_after, tie, wrap, input_id,
        byte_offset)
            SELECT rowid, time_us, bd_id, mac, from_pe, to_pe, seq_before, seq_after, tie, wrap, input_id, byte_offset
            FROM temp.moves_staging ORDER BY mac, time_us, rowid;
        DROP TABLE temp.moves_staging;
        """

    public static let indexes = """
        CREATE INDEX route_events_mac ON route_events(mac, time_us);
        CREATE INDEX route_events_time ON route_events(time_us);
        CREATE INDEX findings_mac ON findings(mac);
        CREATE INDEX findings_time ON findings(first_time_us);
        CREATE INDEX findings_incident ON findings(incident_id);
        CREATE INDEX evidence_finding ON evidence(finding_id);
        CREATE INDEX evidence_pe ON evidence(pe, time_us);
        """
}
