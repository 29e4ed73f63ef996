# SPDX-License-Identifier: MIT
# bash completion for ipcctl: subcommands, their options, and schemes.
_ipcctl() {
    local cur=${COMP_WORDS[COMP_CWORD]}
    if [ "$COMP_CWORD" -eq 1 ]; then
        COMPREPLY=($(compgen -W "ls stat rm gc send recv call bench --help --version" -- "$cur"))
        return
    fi
    local opts
    case ${COMP_WORDS[1]} in
    ls) opts="--json --dir --help" ;;
    stat) opts="--json --help" ;;
    rm) opts="--force --help" ;;
    gc) opts="--dry-run --dir --help" ;;
    send) opts="--raw --timeout --prio --help" ;;
    recv) opts="--count --timeout --hex --raw --create --help" ;;
    call) opts="--raw --timeout --hex --help" ;;
    bench) opts="--sizes --count --rounds --help" ;;
    esac
    case $cur in
    -*) COMPREPLY=($(compgen -W "$opts" -- "$cur")) ;;
    *) COMPREPLY=($(compgen -W "pipe: unix: fifo: mq: sysv: shm: sem:" -- "$cur"))
       compopt -o nospace 2>/dev/null ;;
    esac
}
complete -F _ipcctl ipcctl
