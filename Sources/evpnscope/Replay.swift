import ArgumentParser
import EVPNModel
import Foundation
import Ingest
import Replay

struct Replay: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the reconstructed state at a moment: what each PE advertised and who owned each MAC.",
        discussion: """
            Example: evpnscope replay datasets/demo/dumps --at 2026-11-24T02:05Z --mac 02:03:00:00:00:1e
            """)

    @Argument(help: "MRT or BMP files, directories, or - for stdin.")
    var inputs: [String]

    @Option(help: "The moment (ISO 8601 or epoch seconds); default: the end of the inputs.")
    var at: String?

    @Option(help: "Only this MAC.")
    var mac: String?

    @Option(help: "Only MACs this PE advertises (its address).")
    var pe: String?

    @OptionGroup var replayOptions: ReplayOptions

    func run() throws {
        let moment = try at.map { try parseTime($0, option: "--at") }
        let macFilter = try mac.map { try parseMAC($0, option: "--mac") }
        let peFilter = try pe.map { try parseIP($0, option: "--pe") }
        let inputSet: InputSet
        do {
            inputSet = try InputSet(paths: inputs, evpnOnly: true, fingerprints: false)
            noticeSkipped(inputSet)
        } catch let error as UsageError { throw CLIUsageError(message: error.description) }
        let engine = ReplayEngine(options: try replayOptions.engineOptions())
        while let item = inputSet.next() {
            if let moment, item.time > moment { break }
            engine.process(item)
        }
        let peID = peFilter.flatMap { engine.peID(of: $0) }
        if peFilter != nil && peID == nil { print("PE \(peFilter!) advertised nothing by then"); return }
        print(
            "state at \(Timestamp.format(moment ?? engine.now)): \(engine.pes.count) PEs, \(engine.macs.count) MACs, "
                + "\(engine.liveRoutes) live MAC routes"
        )
        let order = engine.macs.indices.sorted {
            (engine.macs[$0].bd, engine.macs[$0].mac) < (engine.macs[$1].bd, engine.macs[$1].mac)
        }
        var shown = 0
        for index in order {
            let state = engine.macs[index]
            if let macFilter, state.mac != macFilter { continue }
            let mac = MACID(index: index)
            if let peID, engine.advert(mac: mac, pe: peID) == nil { continue }
            if !state.isAdvertised && macFilter == nil { continue }
            shown += 1
            let owner = state.winner.exists ? engine.pes[state.winner.index].address.description : "nobody"
            print(
                "\(state.mac)  \(engine.bds[Int(state.bd)].label)  owner \(owner) seq \(state.winnerSeq)  moves "
                    + "\(state.moves)"
            )
            for advert in engine.adverts(mac: mac) {
                let ips = engine.routes(mac: mac, pe: advert.pe).compactMap { $0.ip?.description }
                let esi = advert.esi.isZero ? "" : " esi \(advert.esi)"
                print(
                    "    \(engine.pes[advert.pe.index].address)  seq "
                        + "\(advert.seq)\(advert.sticky ? " sticky" : "")\(esi)  since "
                        + Timestamp.format(advert.firstSeen)
                        + (ips.isEmpty ? "" : "  ips " + ips.joined(separator: ","))
                )
            }
        }
        if shown == 0 { print("no matching MAC") }
        for damage in inputSet.damage { printError("evpnscope: damaged input: \(damage)") }
        if !inputSet.damage.isEmpty { throw ExitStatusError(code: ExitStatus.damaged) }
    }
}
