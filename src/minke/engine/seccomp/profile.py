"""minke's default seccomp profile: which system calls a container may make, stated as rules.

The rules are Docker's default profile (moby/profiles ``seccomp/default.json`` v0.2.3), written
out here in a compact form so that minke carries its own policy and needs no data file at run
time. A rule allows (or answers with an errno) a set of system calls, optionally only when the
container holds some capabilities, lacks them, runs on some architectures, or when an argument
matches. ``compile.py`` turns the rules into the OCI ``linux.seccomp`` of one container.

``tests/unit/engine/security/test_seccomp_profile.py`` compiles these rules for several
capability sets and checks the result against moby's JSON compiled the way dockerd does.
"""

from __future__ import annotations

from dataclasses import dataclass, field

ALLOW = "SCMP_ACT_ALLOW"
ERRNO = "SCMP_ACT_ERRNO"
EPERM = 1  # the answer to every call no rule allows (Docker's defaultErrnoRet)
ENOSYS = 38  # clone3 without CAP_SYS_ADMIN: glibc then falls back to clone, which is filtered

# clone(2) flags that create namespaces (CLONE_NEWNS|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET|
# NEWCGROUP): without CAP_SYS_ADMIN clone is allowed only when none of them is set.
CLONE_NAMESPACE_FLAGS = 0x7E020000


@dataclass(frozen=True)
class Arg:
    """A condition on one argument (``SCMP_CMP_*``), as libseccomp takes it."""

    index: int
    value: int
    op: str
    value_two: int = 0


@dataclass(frozen=True)
class Rule:
    """System calls and the action taken for them, under optional conditions.

    ``caps`` must all be held, ``not_caps`` none; ``arches``/``not_arches`` are Go
    architecture names (amd64, arm64, s390x...), as moby's profile uses them.
    """

    names: tuple[str, ...]
    action: str = ALLOW
    args: tuple[Arg, ...] = ()
    caps: tuple[str, ...] = ()
    not_caps: tuple[str, ...] = ()
    arches: tuple[str, ...] = ()
    not_arches: tuple[str, ...] = ()
    min_kernel: tuple[int, int] | None = None
    errno: int | None = None


@dataclass(frozen=True)
class Profile:
    default_action: str
    default_errno: int | None
    # Native architecture (SCMP name) → the sub-architectures a filter for it also covers.
    arch_map: dict[str, tuple[str, ...]] = field(default_factory=dict)
    rules: tuple[Rule, ...] = ()


def _names(text: str) -> tuple[str, ...]:
    return tuple(text.split())


def _only_with(cap: str, names: str) -> Rule:
    return Rule(_names(names), caps=(cap,))


def _only_on(arches: str, names: str) -> Rule:
    return Rule(_names(names), arches=tuple(arches.split()))


def _arg_is(name: str, index: int, op: str, *values: int) -> tuple[Rule, ...]:
    return tuple(Rule((name,), args=(Arg(index, v, op),)) for v in values)


# Calls every container may make: the ordinary business of a process.
ALWAYS_ALLOWED = _names("""
    accept accept4 access adjtimex alarm bind brk cachestat capget capset chdir chmod chown
    chown32 clock_adjtime clock_adjtime64 clock_getres clock_getres_time64 clock_gettime
    clock_gettime64 clock_nanosleep clock_nanosleep_time64 close close_range connect
    copy_file_range creat dup dup2 dup3 epoll_create epoll_create1 epoll_ctl epoll_ctl_old
    epoll_pwait epoll_pwait2 epoll_wait epoll_wait_old eventfd eventfd2 execve execveat exit
    exit_group faccessat faccessat2 fadvise64 fadvise64_64 fallocate fanotify_mark fchdir
    fchmod fchmodat fchmodat2 fchown fchown32 fchownat fcntl fcntl64 fdatasync fgetxattr
    flistxattr flock fork fremovexattr fsetxattr fstat fstat64 fstatat64 fstatfs fstatfs64
    fsync ftruncate ftruncate64 futex futex_requeue futex_time64 futex_wait futex_waitv
    futex_wake futimesat getcpu getcwd getdents getdents64 getegid getegid32 geteuid
    geteuid32 getgid getgid32 getgroups getgroups32 getitimer getpeername getpgid getpgrp
    getpid getppid getpriority getrandom getresgid getresgid32 getresuid getresuid32
    getrlimit get_robust_list getrusage getsid getsockname getsockopt get_thread_area gettid
    gettimeofday getuid getuid32 getxattr getxattrat inotify_add_watch inotify_init
    inotify_init1 inotify_rm_watch io_cancel ioctl io_destroy io_getevents io_pgetevents
    io_pgetevents_time64 ioprio_get ioprio_set io_setup io_submit ipc kill landlock_add_rule
    landlock_create_ruleset landlock_restrict_self lchown lchown32 lgetxattr link linkat
    listen listmount listxattr listxattrat llistxattr _llseek lremovexattr lseek lsetxattr
    lstat lstat64 madvise map_shadow_stack membarrier memfd_create memfd_secret mincore
    mkdir mkdirat mknod mknodat mlock mlock2 mlockall mmap mmap2 mprotect mq_getsetattr
    mq_notify mq_open mq_timedreceive mq_timedreceive_time64 mq_timedsend
    mq_timedsend_time64 mq_unlink mremap mseal msgctl msgget msgrcv msgsnd msync munlock
    munlockall munmap name_to_handle_at nanosleep newfstatat _newselect open openat openat2
    pause pidfd_open pidfd_send_signal pipe pipe2 pkey_alloc pkey_free pkey_mprotect poll
    ppoll ppoll_time64 prctl pread64 preadv preadv2 prlimit64 process_mrelease pselect6
    pselect6_time64 pwrite64 pwritev pwritev2 read readahead readlink readlinkat readv recv
    recvfrom recvmmsg recvmmsg_time64 recvmsg remap_file_pages removexattr removexattrat
    rename renameat renameat2 restart_syscall riscv_hwprobe rmdir rseq rt_sigaction
    rt_sigpending rt_sigprocmask rt_sigqueueinfo rt_sigreturn rt_sigsuspend rt_sigtimedwait
    rt_sigtimedwait_time64 rt_tgsigqueueinfo sched_getaffinity sched_getattr sched_getparam
    sched_get_priority_max sched_get_priority_min sched_getscheduler sched_rr_get_interval
    sched_rr_get_interval_time64 sched_setaffinity sched_setattr sched_setparam
    sched_setscheduler sched_yield seccomp select semctl semget semop semtimedop
    semtimedop_time64 send sendfile sendfile64 sendmmsg sendmsg sendto setfsgid setfsgid32
    setfsuid setfsuid32 setgid setgid32 setgroups setgroups32 setitimer setpgid setpriority
    setregid setregid32 setresgid setresgid32 setresuid setresuid32 setreuid setreuid32
    setrlimit set_robust_list setsid setsockopt set_thread_area set_tid_address setuid
    setuid32 setxattr setxattrat shmat shmctl shmdt shmget shutdown sigaltstack signalfd
    signalfd4 sigprocmask sigreturn socketcall socketpair splice stat stat64 statfs statfs64
    statmount statx symlink symlinkat sync sync_file_range syncfs sysinfo tee tgkill time
    timer_create timer_delete timer_getoverrun timer_gettime timer_gettime64 timer_settime
    timer_settime64 timerfd_create timerfd_gettime timerfd_gettime64 timerfd_settime
    timerfd_settime64 times tkill truncate truncate64 ugetrlimit umask uname unlink unlinkat
    uretprobe utime utimensat utimensat_time64 utimes vfork vmsplice wait4 waitid waitpid
    write writev
""")

SYS_ADMIN = "CAP_SYS_ADMIN"

DEFAULT_PROFILE = Profile(
    default_action=ERRNO,
    default_errno=EPERM,
    arch_map={
        "SCMP_ARCH_X86_64": ("SCMP_ARCH_X86", "SCMP_ARCH_X32"),
        "SCMP_ARCH_AARCH64": ("SCMP_ARCH_ARM",),
        "SCMP_ARCH_MIPS64": ("SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64N32"),
        "SCMP_ARCH_MIPS64N32": ("SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64"),
        "SCMP_ARCH_MIPSEL64": ("SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64N32"),
        "SCMP_ARCH_MIPSEL64N32": ("SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64"),
        "SCMP_ARCH_S390X": ("SCMP_ARCH_S390",),
        "SCMP_ARCH_RISCV64": (),
        "SCMP_ARCH_LOONGARCH64": (),
    },
    rules=(
        Rule(ALWAYS_ALLOWED),
        # ptrace was unsafe before 4.8 (it could bypass seccomp); on older kernels it needs
        # CAP_SYS_PTRACE (the rule further down).
        Rule(_names("process_vm_readv process_vm_writev ptrace"), min_kernel=(4, 8)),
        # Every socket family but AF_ALG (38) and AF_VSOCK (40).
        *_arg_is("socket", 0, "SCMP_CMP_LT", 38),
        *_arg_is("socket", 0, "SCMP_CMP_EQ", 39),
        *_arg_is("socket", 0, "SCMP_CMP_GT", 40),
        # personality(2) only for PER_LINUX, PER_LINUX32, UNAME26 variants and the query.
        *_arg_is("personality", 0, "SCMP_CMP_EQ", 0x0, 0x8, 0x20000, 0x20008, 0xFFFFFFFF),
        _only_on("ppc64le", "sync_file_range2 swapcontext"),
        _only_on("arm arm64", "arm_fadvise64_64 arm_sync_file_range sync_file_range2 "
                              "breakpoint cacheflush set_tls"),
        _only_on("amd64 x32", "arch_prctl"),
        _only_on("amd64 x32 x86", "modify_ldt"),
        _only_on("s390 s390x", "s390_pci_mmio_read s390_pci_mmio_write s390_runtime_instr"),
        _only_on("riscv64", "riscv_flush_icache"),
        _only_with("CAP_DAC_READ_SEARCH", "open_by_handle_at"),
        _only_with(SYS_ADMIN, """
            bpf clone clone3 fanotify_init fsconfig fsmount fsopen fspick lookup_dcookie
            lsm_get_self_attr lsm_list_modules lsm_set_self_attr mount mount_setattr
            move_mount open_tree perf_event_open quotactl quotactl_fd setdomainname
            sethostname setns syslog umount umount2 unshare"""),
        # Without CAP_SYS_ADMIN: threads and processes, but no new namespaces.
        Rule(("clone",), args=(Arg(0, CLONE_NAMESPACE_FLAGS, "SCMP_CMP_MASKED_EQ"),),
             not_caps=(SYS_ADMIN,), not_arches=("s390", "s390x")),
        # s390 passes clone's flags as its second argument.
        Rule(("clone",), args=(Arg(1, CLONE_NAMESPACE_FLAGS, "SCMP_CMP_MASKED_EQ"),),
             arches=("s390", "s390x"), not_caps=(SYS_ADMIN,)),
        # clone3 takes its flags in a struct seccomp cannot inspect: ENOSYS makes libc fall
        # back to clone, which the rule above filters.
        Rule(("clone3",), action=ERRNO, errno=ENOSYS, not_caps=(SYS_ADMIN,)),
        _only_with("CAP_SYS_BOOT", "reboot"),
        _only_with("CAP_SYS_CHROOT", "chroot"),
        _only_with("CAP_SYS_MODULE", "delete_module init_module finit_module"),
        _only_with("CAP_SYS_PACCT", "acct"),
        _only_with("CAP_SYS_PTRACE", "kcmp pidfd_getfd process_madvise process_vm_readv "
                                     "process_vm_writev ptrace"),
        _only_with("CAP_SYS_RAWIO", "iopl ioperm"),
        _only_with("CAP_SYS_TIME", "settimeofday stime clock_settime clock_settime64"),
        _only_with("CAP_SYS_TTY_CONFIG", "vhangup"),
        _only_with("CAP_SYS_NICE", "get_mempolicy mbind set_mempolicy set_mempolicy_home_node"),
        _only_with("CAP_SYSLOG", "syslog"),
        _only_with("CAP_BPF", "bpf"),
        _only_with("CAP_PERFMON", "perf_event_open"),
    ),
)
