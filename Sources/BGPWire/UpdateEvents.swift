import EVPNModel

extension UpdateMessage {
    /// Turns one UPDATE into route events at one observation point, applying RFC 7606:
    /// under treat-as-withdraw every announced route becomes a withdrawal.
    public func appendEvents(time: Int64, source: SourceRef, observation: ObservationPoint, into out: inout [FeedItem]) {
        let withdrawAll = action >= .treatAsWithdraw
        let empty = PathAttributes()
        for entry in withdrawn {
            out.append(.route(RouteEvent(time: time, source: source, observation: observation, isWithdraw: true,
                                         family: .ipv4Unicast, entry: entry, attributes: empty, nextHop: nil)))
        }
        if let unreach {
            for entry in unreach.nlri {
                out.append(.route(RouteEvent(time: time, source: source, observation: observation, isWithdraw: true,
                                             family: unreach.family, entry: entry, attributes: empty, nextHop: nil)))
            }
        }
        for entry in announced {
            out.append(.route(RouteEvent(time: time, source: source, observation: observation, isWithdraw: withdrawAll,
                                         family: .ipv4Unicast, entry: entry, attributes: withdrawAll ? empty : attributes,
                                         nextHop: attributes.nextHop, treatedAsWithdraw: withdrawAll)))
        }
        if let reach {
            for entry in reach.nlri {
                out.append(.route(RouteEvent(time: time, source: source, observation: observation, isWithdraw: withdrawAll,
                                             family: reach.family, entry: entry, attributes: withdrawAll ? empty : attributes,
                                             nextHop: reach.nextHop ?? attributes.nextHop, treatedAsWithdraw: withdrawAll)))
            }
        }
        if let family = endOfRIB {
            out.append(.session(SessionEvent(time: time, source: source, observation: observation, kind: .endOfRIB(family))))
        }
    }
}
