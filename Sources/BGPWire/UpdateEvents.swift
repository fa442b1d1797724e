import EVPNModel

extension UpdateMessage {
    /// Turns one UPDATE into route events at one observation point, applying RFC 7606:
    /// under treat-as-withdraw every announced route becomes a withdrawal.
    public func appendEvents(
        time: Int64, source: SourceRef, observation: ObservationPoint, record: RecordKind = .update,
        into out: inout [FeedItem]
    ) {
        let withdrawAll = action >= .treatAsWithdraw
        // By index: an entry read out by a for-in loop was copied once more on its way into the event.
        func append(_ list: [NLRIEntry], _ family: AddressFamily, announced nextHop: IPAddress??) {
            for index in list.indices {
                // Announcements share the UPDATE's attributes; `nextHop` is nil for a withdrawal.
                let event: RouteEvent
                if let nextHop, !withdrawAll {
                    event = RouteEvent(
                        time: time, source: source, observation: observation, isWithdraw: false,
                        family: family, entry: list[index], attributes: attributes, nextHop: nextHop, record: record)
                } else {
                    event = RouteEvent(
                        time: time, source: source, observation: observation, isWithdraw: true, family: family,
                        entry: list[index], attributes: .empty, nextHop: nil, treatedAsWithdraw: nextHop != nil,
                        record: record)
                }
                out.append(.route(event))
            }
        }
        append(withdrawn, .ipv4Unicast, announced: nil)
        if let unreach { append(unreach.nlri, unreach.family, announced: nil) }
        append(announced, .ipv4Unicast, announced: .some(attributes.nextHop))
        if let reach {
            append(reach.nlri, reach.family, announced: .some(reach.nextHop ?? attributes.nextHop))
        }
        if let family = endOfRIB {
            out.append(
                .session(
                    SessionEvent(
                        time: time, source: source, observation: observation, kind: .endOfRIB(family), record: record)))
        }
    }
}

/// What the MRT and BMP readers do with every decoded UPDATE: RFC 7606 problems are counted and
/// kept (`DamageLog` bounds them), skipped families counted, route events queued.
public struct UpdateSink {
    /// `file` is asked for only when there is a problem: a reader's name is a protocol call and a
    /// string copy, and this runs for every UPDATE.
    public static func recordProblems(
        _ update: inout UpdateMessage, file: @autoclosure () -> String, stats: inout ReaderStats,
        problems: inout DamageLog
    ) {
        guard !update.errors.isEmpty else { return }
        let file = file()
        stats.attributeErrors += update.errors.count
        for problem in update.errors {
            problems.append(
                InputDamage(
                    file: file, offset: Int64(problem.error.offset), message: problem.description, recovered: true))
        }
    }

    /// `inout` though it changes nothing: readers keep one message for every UPDATE, and a
    /// stored message passed by value would be copied, retaining each of its lists.
    public static func emit(
        _ update: inout UpdateMessage, time: Int64, source: SourceRef, observation: ObservationPoint,
        file: @autoclosure () -> String,
        stats: inout ReaderStats, problems: inout DamageLog, record: RecordKind = .update,
        into pending: inout [FeedItem]
    ) {
        recordProblems(&update, file: file(), stats: &stats, problems: &problems)
        stats.skippedNLRIBytes += update.skippedNLRIBytes
        let before = pending.count
        update.appendEvents(time: time, source: source, observation: observation, record: record, into: &pending)
        stats.routeEvents += pending.count - before
        if pending.count == before { pending.append(.heartbeat(time: time)) }
    }
}
