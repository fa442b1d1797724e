#!/usr/bin/env bash
# A small FRR 8.4 EVPN/VXLAN fabric in network namespaces, for FRRInteropTests.swift:
# a route reflector and PEs (zebra + bgpd each, a VXLAN bridge per PE, `dump bgp updates` on every
# router) and host namespaces whose veths plug into the PEs' bridges. Only addresses inside these
# namespaces are used (10.255.255.0/24 underlay, 10.0.0.0/24 overlay).
#
#   frr-fabric.sh up DIR PES              start rr + pe1..peN, dumps in DIR
#   frr-fabric.sh host NAME MAC PE...     a host namespace with one veth per PE (all down)
#   frr-fabric.sh attach NAME PE IP       NAME's link to PE up, the others down, then a gratuitous ARP
#   frr-fabric.sh speak NAME PE IP        a gratuitous ARP from NAME's link to PE
#   frr-fabric.sh show DIR PE             vtysh "show evpn mac vni all" on a PE
#   frr-fabric.sh scenario DIR MOVES N    the interop test's story (below), then down
#   frr-fabric.sh down DIR                stop every daemon, remove the namespaces
#
# With COLLECT=/path/to/evpnscope, `evpnscope collect` runs in the reflector's namespace (archive
# in DIR/collect) and the reflector's bgpd (with FRR's bmp module) streams BMP to it.
set -u
COLLECT=${COLLECT:-}
PREFIX=evs
FRR=/usr/lib/frr

ns() { ip netns exec "$PREFIX-$1" "${@:2}"; }
address() { [ "$1" = rr ] && echo 10.255.255.254 || echo "10.255.255.${1#pe}"; }

up() {
    local dir=$1 count=$2
    mkdir -p "$dir"
    # The daemons drop to the frr user: it writes the logs, sockets and dumps here.
    chmod 777 "$dir"
    ip netns add "$PREFIX-fabric"
    ns fabric ip link add br0 type bridge
    ns fabric ip link set br0 up
    local nodes="rr" i
    for i in $(seq 1 "$count"); do nodes="$nodes pe$i"; done
    for node in $nodes; do
        ip netns add "$PREFIX-$node"
        ns "$node" ip link set lo up
        ip link add "$PREFIX-$node-u" type veth peer name "$PREFIX-$node-f"
        ip link set "$PREFIX-$node-u" netns "$PREFIX-$node"
        ip link set "$PREFIX-$node-f" netns "$PREFIX-fabric"
        ns fabric ip link set "$PREFIX-$node-f" master br0 up
        ns "$node" ip link set "$PREFIX-$node-u" name uplink
        ns "$node" ip addr add "$(address "$node")/24" dev uplink
        ns "$node" ip link set uplink up
        if [ "$node" != rr ]; then
            # One broadcast domain: VNI 100 bridged with the host ports; the VXLAN port does not
            # learn (EVPN programs remote MACs), as FRR's EVPN guide asks.
            ns "$node" ip link add br100 type bridge
            ns "$node" ip link set br100 addrgenmode none
            ns "$node" ip link add vxlan100 type vxlan id 100 local "$(address "$node")" dstport 4789 nolearning
            ns "$node" ip link set vxlan100 master br100 addrgenmode none
            ns "$node" bridge link set dev vxlan100 learning off
            ns "$node" ip link set vxlan100 up
            ns "$node" ip link set br100 up
        fi
        write_config "$dir" "$node"
        local run="$dir/run-$node"
        mkdir -p "$run"
        chown frr:frr "$run"
        local modules=()
        if [ "$node" = rr ] && [ -n "$COLLECT" ]; then
            modules=(-M bmp)
            # `ip netns exec` runs the station itself (not a subshell): $! is its pid for SIGTERM.
            ip netns exec "$PREFIX-rr" "$COLLECT" collect --listen 127.0.0.1:11019 --out "$dir/collect" \
                --rotate 1m >"$dir/collect.log" 2>&1 &
            echo $! >"$dir/collect.pid"
        fi
        ns "$node" "$FRR/zebra" -d -N "$PREFIX-$node" -f "$dir/$node-zebra.conf" -i "$run/zebra.pid" \
            -z "$run/zserv.api" --vty_socket "$run" --log file:"$dir/$node-zebra.log" >/dev/null 2>&1
        sleep 0.3
        ns "$node" "$FRR/bgpd" "${modules[@]}" -d -N "$PREFIX-$node" -f "$dir/$node-bgpd.conf" -i "$run/bgpd.pid" \
            -z "$run/zserv.api" --vty_socket "$run" --log file:"$dir/$node-bgpd.log" >/dev/null 2>&1
    done
    # Established everywhere within 60 s, or fail.
    for _ in $(seq 1 60); do
        local established
        # Established: the State/PfxRcd column holds a prefix count instead of a state name.
        established=$(vty rr "show bgp l2vpn evpn summary" 2>/dev/null | awk '$2 == 4 && $10 ~ /^[0-9]+$/' | wc -l)
        [ "$established" -ge "$count" ] && return 0
        sleep 1
    done
    echo "sessions did not come up" >&2
    vty rr "show bgp l2vpn evpn summary" >&2
    return 1
}

vty() { ns "$1" vtysh --vty_socket "$DIR_RUN/run-$1" -c "$2" 2>/dev/null; }

write_config() {
    local dir=$1 node=$2 me
    me=$(address "$node")
    printf 'hostname %s\nlog file %s/%s-zebra.log\n' "$node" "$dir" "$node" >"$dir/$node-zebra.conf"
    {
        echo "frr defaults datacenter"
        echo "hostname $node"
        echo "log file $dir/$node-bgpd.log"
        echo "dump bgp updates $dir/updates-$node"
        echo "router bgp 65000"
        echo " bgp router-id $me"
        echo " no bgp default ipv4-unicast"
        echo " timers bgp 3 9"
        if [ "$node" = rr ]; then
            echo " bgp cluster-id $me"
            echo " neighbor fabric peer-group"
            echo " neighbor fabric remote-as 65000"
            echo " bgp listen range 10.255.255.0/24 peer-group fabric"
            echo " address-family l2vpn evpn"
            echo "  neighbor fabric activate"
            echo "  neighbor fabric route-reflector-client"
            echo " exit-address-family"
            if [ -n "$COLLECT" ]; then
                echo " bmp targets collect"
                echo "  bmp connect 127.0.0.1 port 11019 min-retry 100 max-retry 1000"
                echo "  bmp monitor l2vpn evpn pre-policy"
                echo "  bmp monitor l2vpn evpn post-policy"
                echo " exit"
            fi
        else
            echo " neighbor 10.255.255.254 remote-as 65000"
            echo " neighbor 10.255.255.254 timers connect 2"
            echo " address-family l2vpn evpn"
            echo "  neighbor 10.255.255.254 activate"
            echo "  advertise-all-vni"
            echo " exit-address-family"
        fi
    } >"$dir/$node-bgpd.conf"
}

host() {
    local name=$1 mac=$2
    shift 2
    ip netns add "$PREFIX-$name"
    ns "$name" ip link set lo up
    for pe in "$@"; do
        ip link add "$PREFIX-$name-$pe" type veth peer name "$PREFIX-$name-at"
        ip link set "$PREFIX-$name-at" netns "$PREFIX-$pe"
        ns "$pe" ip link set "$PREFIX-$name-at" name "$name" master br100 up
        ip link set "$PREFIX-$name-$pe" netns "$PREFIX-$name"
        ns "$name" ip link set "$PREFIX-$name-$pe" name "to-$pe" address "$mac"
    done
}

# The host's link to PE comes up and every other link goes down, then the host speaks (ARP).
attach() {
    local name=$1 pe=$2 ip=$3 link
    for link in $(ns "$name" ls /sys/class/net); do
        case $link in to-*) [ "$link" != "to-$pe" ] && ns "$name" ip link set "$link" down ;; esac
    done
    ns "$name" ip link set "to-$pe" up
    speak "$name" "$pe" "$ip"
}

# A gratuitous ARP from the host's own MAC: the PE's bridge learns (or roams) the MAC from it.
speak() {
    local name=$1 pe=$2 ip=$3 mac
    mac=$(ns "$name" cat "/sys/class/net/to-$pe/address")
    ns "$name" python3 -c '
import socket, sys
interface, mac, ip = sys.argv[1], bytes.fromhex(sys.argv[2].replace(":", "")), socket.inet_aton(sys.argv[3])
frame = b"\xff" * 6 + mac + b"\x08\x06" + b"\x00\x01\x08\x00\x06\x04\x00\x01" + mac + ip + b"\x00" * 6 + ip
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((interface, 0))
s.send(frame + b"\x00" * (60 - len(frame)))
' "to-$pe" "$mac" "$ip"
}

# The interop test's story on two PEs: host h1 (aa:bb:cc:00:00:01) learnt at pe1 and moved MOVES
# times between pe2 and pe1 (link down on one side, up and an ARP on the other); then two hosts
# sharing aa:bb:cc:00:00:02, h2 behind pe1 and h3 behind pe2, each sending N ARPs in turn (a
# duplicate MAC). Each PE's MAC table is kept beside the dumps (pe1-macs.txt, pe2-macs.txt).
scenario() {
    local dir=$1 moves=$2 rounds=$3 k
    DIR_RUN=$dir
    up "$dir" 2 || { down "$dir"; return 1; }
    host h1 aa:bb:cc:00:00:01 pe1 pe2
    attach h1 pe1 10.0.0.1
    sleep 1.5
    for k in $(seq 1 "$moves"); do
        attach h1 "pe$((k % 2 + 1))" 10.0.0.1
        sleep 1.5
    done
    host h2 aa:bb:cc:00:00:02 pe1
    host h3 aa:bb:cc:00:00:02 pe2
    # Both links at once, pe2's first: hosts send on link-up (IPv6 neighbour discovery), so both
    # PEs learn the MAC in the same second without a community, a tie the lower address wins
    # though the higher one's route usually reaches the reflector first (MOB-4, MOB-15).
    ns h3 ip link set to-pe2 up
    ns h2 ip link set to-pe1 up
    sleep 2.5
    for k in $(seq 1 "$rounds"); do
        speak h2 pe1 10.0.0.2
        sleep 0.7
        speak h3 pe2 10.0.0.3
        sleep 0.7
    done
    sleep 2
    vty pe1 "show evpn mac vni all" >"$dir/pe1-macs.txt"
    vty pe2 "show evpn mac vni all" >"$dir/pe2-macs.txt"
    down "$dir"
}

down() {
    local dir=$1 pidfile
    for pidfile in "$dir"/run-*/*.pid; do
        [ -f "$pidfile" ] && kill "$(cat "$pidfile")" 2>/dev/null
    done
    sleep 1
    for pidfile in "$dir"/run-*/*.pid; do
        [ -f "$pidfile" ] && kill -9 "$(cat "$pidfile")" 2>/dev/null
    done
    # The station last, after the reflector stopped: SIGTERM closes its files.
    if [ -f "$dir/collect.pid" ]; then
        kill -TERM "$(cat "$dir/collect.pid")" 2>/dev/null
        for _ in $(seq 1 50); do kill -0 "$(cat "$dir/collect.pid")" 2>/dev/null || break; sleep 0.1; done
        # Still there after 5 s: it did not honour SIGTERM, which the test then reports.
        kill -0 "$(cat "$dir/collect.pid")" 2>/dev/null && kill -9 "$(cat "$dir/collect.pid")" \
            && echo "collect ignored SIGTERM" >>"$dir/collect.log"
        rm -f "$dir/collect.pid"
    fi
    for n in $(ip netns list | awk '{print $1}' | grep "^$PREFIX-"); do ip netns del "$n"; done
    return 0
}

command=$1
shift
case $command in
    up) DIR_RUN=$1; up "$@" ;;
    host) host "$@" ;;
    attach) attach "$@" ;;
    speak) speak "$@" ;;
    scenario) scenario "$@" ;;
    show) DIR_RUN=$1; vty "$2" "show evpn mac vni all" ;;
    vty) DIR_RUN=$1; vty "$2" "$3" ;;
    down) down "$@" ;;
    *) echo "usage: $0 up|host|attach|ping|show|vty|down ..." >&2; exit 2 ;;
esac
