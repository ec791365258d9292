"""Load balancing by strategy, with a circuit breaker (issue 15), beyond Docker's round robin.

The kernel forwards: each service's VIP and ingress ports pick a slot of its data maps
(``engine/network/firewall.py``) and DNAT to the backend there; slots per backend are its
weight. On every node a
controller (``controller.Balancer``) measures what that node sees of each backend (live
connections from conntrack, connect successes and failures from NFLOG, CPU from its cgroup,
bytes from its interface), turns them into weights by the service's strategy
(``strategies``), damps them (``damping``), ejects failing backends (``breaker``) and
rewrites the weight maps in place. ``policy`` reads and checks the service labels that
choose all of it. Nothing here is cluster-wide: each node decides from its own view.
"""
