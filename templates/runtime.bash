# ---------------------------------------------------------------------------------------
# Runtime: the same for every plan. It reads the step data above and nothing else.
# ---------------------------------------------------------------------------------------
#
# Strict mode, chosen deliberately: nounset and pipefail, but not errexit. Step failures
# are the normal business of this script and are handled explicitly (errexit is silently
# off inside functions called from conditions, which is where such handling lives);
# every write to the journal and the log is checked.
set -o nounset -o pipefail
# The journal, log and lock are private; the steps get the operator's own umask back (a
# configuration file a step writes must not become readable by its owner alone).
OPERATOR_UMASK=$(umask)
readonly OPERATOR_UMASK
umask 077
# A file-size limit must fail a write (which is checked), not kill the script mid-line;
# a vanished reader (the output pump, a closed terminal) must fail a write, not kill us.
# Steps get both signals back (`trap -` before they start).
trap '' XFSZ PIPE

readonly EXIT_OK=0 EXIT_FAILED=1 EXIT_USAGE=2 EXIT_JOURNAL=3 EXIT_QUIT=4 EXIT_LOCKED=75
readonly KILL_GRACE=10           # seconds between TERM and KILL for a step that must stop
# seconds; RUNBOOK_SSH_CONNECT_TIMEOUT overrides it (a slow link, or a quick test)
readonly SSH_CONNECT_TIMEOUT=${RUNBOOK_SSH_CONNECT_TIMEOUT:-10}
readonly JOURNAL_MAGIC='# runbook-journal 1'

SCRIPT_PATH=${BASH_SOURCE[0]}
case $SCRIPT_PATH in */*) SCRIPT_DIR=${SCRIPT_PATH%/*} ;; *) SCRIPT_DIR=. ;; esac
readonly SCRIPT_PATH SCRIPT_DIR

# Options.
OPT_YES=0 OPT_DRY_RUN=0 OPT_LIST=0 OPT_RESET=0 OPT_RERUN_INTERRUPTED=0
OPT_FROM='' OPT_ONLY=''
OPT_SKIP=()
JOURNAL="$SCRIPT_DIR/$PLAN_NAME.journal"
LOG_FILE="$SCRIPT_DIR/$PLAN_NAME.log"

# State of this run.
declare -a STATUS=() STATUS_TIME=() ATTEMPTS=() DURATION=() STARTED_PGID=()
AUTO=0                 # 1 after --yes or the answer [a]
AUTO_REASON=''
RUN_START_US=0
REMAINING_ESTIMATE=0
CURRENT_STEP=0
STEP_PID=''
LAUNCH_FD=''
REPLY_FD=''
LAUNCHER_PID=''
REPLY_PARTIAL=''
LAUNCH_PENDING=0       # 1 between asking the launcher for a step and hearing its process group
PUMP_FD=''
ACK_FD=''
GO_FD=''
START_PENDING=0        # attempt number whose START `execute` writes, once it has a pid
PUMP_TOKEN=''
LOCK_FD=''
LOG_FD=''
JOURNAL_FD=''
SLEEP_FD=''
JOURNAL_SEQ=0
JOURNAL_PARTIAL_BYTES=0  # length of a last line cut short, or -1 for a header cut short
OPERATOR=''
FINISHED=0
EXIT_STATUS=$EXIT_OK
SEEN_TTY=0
KILL_NOW=0

BOLD='' RED='' GREEN='' YELLOW='' RESET=''

usage() {
  cat <<EOF
Usage: ${SCRIPT_PATH##*/} [OPTIONS]

Runs the plan "$PLAN_TITLE" ($STEP_COUNT steps), generated from $PLAN_SOURCE.
Each step is shown, then you answer:
  [y] run   [s] skip   [a] run this and all remaining without asking   [q] quit
A failed step offers: [r] retry  [s] skip  [d] done by hand  [q] quit.
A manual step waits until you type "done" (or s to skip, q to quit).

Options:
  -y, --yes              run every step without asking (manual steps still need a
                         person at a terminal; without one the run stops there)
  -n, --dry-run          show every step and what it would run; run nothing
      --list             list every step with its status from the journal
      --from STEP        start at STEP (a number or an id); earlier steps are left as they are
      --only STEP        run only STEP, even if the journal says it is finished
      --skip STEP        skip STEP (may be given more than once)
      --journal FILE     journal of finished steps (default: $PLAN_NAME.journal next to this script)
      --log FILE         audit log (default: $PLAN_NAME.log next to this script)
      --reset            start afresh: the old journal is kept as FILE.reset-TIME
      --rerun-interrupted
                         with --yes: run again a step whose earlier run was interrupted
  -h, --help             show this help

Running it again resumes: finished steps are not run again. A step that was interrupted
(Ctrl-C, a kill, a lost connection) is offered again, since its outcome is unknown.

Exit status: 0 every step done or skipped by the operator; 1 a step failed or was blocked,
or the run stopped before the end; 2 usage error, or no terminal without --yes; 3 journal
refused (another plan's, or damaged); 4 you quit; 75 another run holds the lock;
129/130/143 interrupted by hang-up, Ctrl-C or TERM.

Fingerprint: $FINGERPRINT
EOF
}

# --- Output ------------------------------------------------------------------------------

setup_colors() {
  if [[ -t 1 && -z ${NO_COLOR:-} && ${TERM:-dumb} != dumb ]]; then
    BOLD=$'\e[1m' RED=$'\e[31m' GREEN=$'\e[32m' YELLOW=$'\e[33m' RESET=$'\e[0m'
  fi
}

say() { printf '%s\n' "$*"; }

# die MESSAGE [STATUS]: stop with a message on stderr.
die() {
  printf '%s\n' "${RED}${SCRIPT_PATH##*/}: $1${RESET}" >&2
  log_line "ERROR $1"
  exit "${2:-$EXIT_FAILED}"
}

now_us() {
  if [[ -n ${EPOCHREALTIME:-} ]]; then
    printf -v "$1" '%s' "${EPOCHREALTIME//[!0-9]/}"
  else
    printf -v "$1" '%s' "$((SECONDS * 1000000))"
  fi
}

timestamp() { printf -v "$1" '%(%Y-%m-%dT%H:%M:%S%z)T' -1; }

# human_duration SECONDS VAR
human_duration() {
  local _s=$1 _out=''
  if ((_s >= 3600)); then _out+="$((_s / 3600))h"; _s=$((_s % 3600)); fi
  if ((_s >= 60)); then _out+="$((_s / 60))m"; _s=$((_s % 60)); fi
  if ((_s > 0)) || [[ -z $_out ]]; then _out+="${_s}s"; fi
  printf -v "$2" '%s' "$_out"
}

clock() {
  local _s=$1
  printf -v "$2" '%d:%02d:%02d' "$((_s / 3600))" "$((_s % 3600 / 60))" "$((_s % 60))"
}

# indent PREFIX TEXT: print every line of TEXT after PREFIX (continuation lines aligned).
indent() {
  if [[ $2 != *$'\n'* ]]; then printf '%s%s\n' "$1" "$2"; return 0; fi
  local prefix=$1 pad line first=1
  printf -v pad '%*s' "${#prefix}" ''
  while IFS= read -r line || [[ -n $line ]]; do
    if ((first)); then printf '%s%s\n' "$prefix" "$line"; first=0; else printf '%s%s\n' "$pad" "$line"; fi
  done <<<"$2"
}

# --- Log and journal (checked writes: a full disk stops the run with a clear message) ------

log_line() {
  [[ -n $LOG_FD ]] || return 0
  if ! printf '%(%Y-%m-%dT%H:%M:%S%z)T [%s] %s\n' -1 "$OPERATOR" "$*" 1>&"$LOG_FD" 2>/dev/null; then
    LOG_FD=''
    die "cannot write the log $LOG_FILE (disk full or removed?); the journal is intact" "$EXIT_FAILED"
  fi
}

# log_text LABEL TEXT: a multi-line value, each line prefixed, so the log stays line-oriented.
log_text() {
  if [[ $2 != *$'\n'* ]]; then log_line "$1 $2"; return 0; fi
  local label=$1 line
  while IFS= read -r line || [[ -n $line ]]; do log_line "$label $line"; done <<<"$2"
}

# checksum TEXT VAR: FNV-1a (32 bits) of TEXT, in bash alone (no process per journal line).
# It is there to catch a journal edited by hand, not an adversary. Up to CHECKSUM_CHUNK
# characters are folded in by three commands: a regex match splits them, a printf turns
# their codes into one arithmetic expression, one evaluation computes it. Three commands
# per character (0.4 ms a journal line) were most of the time the script spent between
# steps. Text the regex cannot split (bytes invalid in the locale) goes one by one.
readonly CHECKSUM_CHUNK=128
CHECKSUM_SPLIT=('^$')  # CHECKSUM_SPLIT[k] matches exactly k characters, each in a group
for ((CHECKSUM_K = 1; CHECKSUM_K <= CHECKSUM_CHUNK; CHECKSUM_K++)); do
  CHECKSUM_SPLIT[CHECKSUM_K]="${CHECKSUM_SPLIT[CHECKSUM_K - 1]%\$}(.)\$"
done
readonly CHECKSUM_SPLIT
unset CHECKSUM_K

checksum() {
  local _t=$1 _h=2166136261 _i _n=${#1} _r _e _c _q="'"
  local -a _m
  for ((_i = 0; _i < _n; _i += CHECKSUM_CHUNK)); do
    _r=$((_n - _i < CHECKSUM_CHUNK ? _n - _i : CHECKSUM_CHUNK))
    if [[ ${_t:_i:_r} =~ ${CHECKSUM_SPLIT[_r]} ]]; then
      _m=("${BASH_REMATCH[@]:1}")
      printf -v _e '_h=((_h^%d)*16777619)&0xFFFFFFFF,' "${_m[@]/#/$_q}"
      ((${_e%,}))
    else
      for ((_c = _i; _c < _i + _r; _c++)); do
        printf -v _e '%d' "'${_t:_c:1}"
        _h=$((((_h ^ _e) * 16777619) & 0xFFFFFFFF))
      done
    fi
  done
  printf -v "$2" '%08x' "$_h"
}

journal_write() {
  local line fields sum
  JOURNAL_SEQ=$((JOURNAL_SEQ + 1))
  printf -v line '%s\t%s\t%(%Y-%m-%dT%H:%M:%S%z)T' "$1" "$JOURNAL_SEQ" -1
  shift
  if (($#)); then printf -v fields '\t%s' "$@"; line+=$fields; fi
  checksum "$line" sum
  if ! printf '%s\t%s\n' "$line" "$sum" 1>&"$JOURNAL_FD" 2>/dev/null; then
    JOURNAL_FD=''
    die "cannot write the journal $JOURNAL (disk full or removed?); stopping so that it stays true" "$EXIT_FAILED"
  fi
}

# --- Arguments ---------------------------------------------------------------------------

usage_error() {
  printf '%s\n' "${SCRIPT_PATH##*/}: $1" "Try '${SCRIPT_PATH##*/} --help'." >&2
  exit "$EXIT_USAGE"
}

parse_args() {
  while (($#)); do
    case $1 in
      -y | --yes) OPT_YES=1 ;;
      -n | --dry-run) OPT_DRY_RUN=1 ;;
      --list) OPT_LIST=1 ;;
      --reset) OPT_RESET=1 ;;
      --rerun-interrupted) OPT_RERUN_INTERRUPTED=1 ;;
      -h | --help) usage; exit "$EXIT_OK" ;;
      --from | --only | --skip | --journal | --log)
        (($# >= 2)) || usage_error "$1 needs a value"
        case $1 in
          --from) OPT_FROM=$2 ;;
          --only) OPT_ONLY=$2 ;;
          --skip) OPT_SKIP+=("$2") ;;
          --journal) JOURNAL=$2 ;;
          --log) LOG_FILE=$2 ;;
        esac
        shift ;;
      --from=* | --only=* | --skip=* | --journal=* | --log=*)
        set -- "${1%%=*}" "${1#*=}" "${@:2}"
        continue ;;
      -[yn][yn]*)
        set -- "${1:0:2}" "-${1:2}" "${@:2}"
        continue ;;
      *)
        local hint
        suggest_option "$1" hint
        usage_error "unknown option: $1$hint" ;;
    esac
    shift
  done
  [[ -n $JOURNAL ]] || usage_error "--journal needs a file name"
  [[ -n $LOG_FILE ]] || usage_error "--log needs a file name"
  if [[ -n $OPT_FROM && -n $OPT_ONLY ]]; then usage_error "--from and --only cannot be combined"; fi
  if ((OPT_DRY_RUN && OPT_LIST)); then usage_error "--dry-run and --list cannot be combined"; fi
  if [[ -n $OPT_FROM ]]; then resolve_step "$OPT_FROM" OPT_FROM; fi
  if [[ -n $OPT_ONLY ]]; then resolve_step "$OPT_ONLY" OPT_ONLY; fi
  local i
  for i in "${!OPT_SKIP[@]}"; do resolve_step "${OPT_SKIP[i]}" "OPT_SKIP[$i]"; done
}

# suggest_option WORD VAR: "; did you mean --dry-run?" for a near miss such as --dryrun.
suggest_option() {
  local _word=${1,,} _option _plain
  _word=${_word//[^a-z]/}
  printf -v "$2" '%s' ''
  [[ -n $_word ]] || return 0
  for _option in --yes --dry-run --list --from --only --skip --journal --log --reset --rerun-interrupted --help; do
    _plain=${_option//[^a-z]/}
    if [[ $_plain == "$_word" || ($_plain == "$_word"* && ${#_word} -ge 3) ]]; then
      printf -v "$2" '; did you mean %s?' "$_option"
      return 0
    fi
  done
  return 0
}

# resolve_step NUMBER-OR-ID VAR: the step number, or a usage error naming the choices.
resolve_step() {
  local _key=$1 _n
  if [[ $_key =~ ^[0-9]+$ ]]; then
    _n=$((10#$_key))
    if ((_n >= 1 && _n <= STEP_COUNT)); then printf -v "$2" '%s' "$_n"; return 0; fi
    usage_error "no step $_key: steps are numbered 1 to $STEP_COUNT (see --list)"
  fi
  for ((_n = 1; _n <= STEP_COUNT; _n++)); do
    if [[ ${STEP_ID[_n]} == "$_key" ]]; then printf -v "$2" '%s' "$_n"; return 0; fi
  done
  usage_error "no step with the id '$_key' (see --list for every step)"
}

is_skipped_by_option() {
  local s
  for s in "${OPT_SKIP[@]}"; do [[ $s == "$1" ]] && return 0; done
  return 1
}

# --- Terminal ------------------------------------------------------------------------------

have_tty() { (: </dev/tty) 2>/dev/null; }

# ask VAR PROMPT CHOICES...: read an answer from the terminal; CHOICES are "word=value"
# pairs, e.g. y=run yes=run. Enter alone and unknown answers ask again. End of input
# (Ctrl-D, or the terminal gone) counts as quit: never as yes.
ask() {
  local _var=$1 _prompt=$2 _answer _chunk _choice _key _status
  shift 2
  # Forget keys typed while the previous step ran: only an answer to this question counts.
  while IFS= read -r -s -t 0.05 -n 256 _ </dev/tty 2>/dev/null; do :; done
  log_line "ASK step $CURRENT_STEP: $_prompt"
  while true; do
    printf '%s' "$_prompt" >/dev/tty
    # Wait in slices of a second: a Ctrl-C that lands just before `read` blocks would
    # otherwise wait for the next key before its trap runs. Whatever a slice read of
    # the line is kept, so an answer is never split.
    _answer=''
    while true; do
      IFS= read -r -t 1 _chunk </dev/tty
      _status=$?
      _answer+=$_chunk
      ((_status > 128)) || break
    done
    if ((_status != 0)); then
      printf '\n' >/dev/tty
      log_line "ANSWER step $CURRENT_STEP: end of input, taken as quit"
      printf -v "$_var" '%s' quit
      return 0
    fi
    _answer=${_answer,,}
    _answer=${_answer#"${_answer%%[![:space:]]*}"}
    _answer=${_answer%"${_answer##*[![:space:]]}"}
    if [[ -z $_answer ]]; then
      log_line "ANSWER step $CURRENT_STEP: (empty), asked again"
      printf '%s\n' "An answer is required." >/dev/tty
      continue
    fi
    for _choice in "$@"; do
      _key=${_choice%%=*}
      if [[ $_answer == "$_key" ]]; then
        log_line "ANSWER step $CURRENT_STEP: $_answer (${_choice#*=})"
        printf -v "$_var" '%s' "${_choice#*=}"
        return 0
      fi
    done
    log_line "ANSWER step $CURRENT_STEP: '$_answer' not understood"
    printf '%s\n' "Not understood: '$_answer'." >/dev/tty
  done
}

# A pause without a process: read on a pipe that never delivers.
pause() {
  # shellcheck disable=SC2312  # nothing to check: the substitution only has to exist
  if [[ -z $SLEEP_FD ]]; then exec {SLEEP_FD}<> <(:); fi
  read -r -t "$1" -u "$SLEEP_FD" _ || true
}

# --- Lock ------------------------------------------------------------------------------------

take_lock() {
  local lock_file="$JOURNAL.lock" holder=''
  if ! exec {LOCK_FD}>>"$lock_file"; then
    die "cannot create the lock file $lock_file; check the directory exists and is writable, or use --journal FILE"
  fi
  if ! flock -n "$LOCK_FD"; then
    [[ -r $lock_file ]] && holder=$(<"$lock_file")
    printf '%s\n' "${RED}Another run of this plan is in progress${holder:+ ($holder)}.${RESET}" \
      "Wait for it to finish; if it is gone, this lock is released automatically." >&2
    exit "$EXIT_LOCKED"
  fi
  local ts
  timestamp ts
  printf 'pid %s, %s on %s, since %s\n' "$$" "$OPERATOR" "${HOSTNAME:-?}" "$ts" >"$lock_file" 2>/dev/null || true
}

# --- Journal -----------------------------------------------------------------------------------
#
# One line per event, tab-separated: KIND SEQ TIME FIELDS...
#   START n id attempt pgid        a step began (its outcome is unknown until END); pgid
#                                  is the process group running its command ("-" for a
#                                  manual step), to find an orphan after a crash
#   END   n id status rc seconds   status: done by-hand skipped failed interrupted
#   RUN   event operator host mode a run began or ended
# Every line ends with a checksum of the rest. The header names the plan and its
# fingerprint. Lines are checked on reading: a journal edited by hand or into an
# impossible state is refused, never trusted. A last line cut short (a crash or a full
# disk while writing it) is dropped: the write order makes that safe, since START is
# written before a step runs and END after, so a lost line can only leave a step
# "interrupted" (outcome unknown, offered again), never "done".

journal_status_of() { # n -> status name shown to people
  case ${STATUS[$1]:-pending} in
    by-hand) printf -v "$2" '%s' 'done by hand' ;;
    *) printf -v "$2" '%s' "${STATUS[$1]:-pending}" ;;
  esac
}

journal_refuse() {
  die "the journal $JOURNAL $1; run with --reset to start afresh (the old journal is kept), or --journal FILE to use another" "$EXIT_JOURNAL"
}

read_journal() {
  [[ -e $JOURNAL ]] || return 0
  [[ -f $JOURNAL && -r $JOURNAL ]] || journal_refuse "cannot be read"
  local header line kind seq ts n id f4 f5 f6 lineno=1 expected_seq=1 body sum
  local -a fields
  {
    if ! IFS= read -r header; then
      # Empty, or only a header cut short: nothing was ever recorded.
      JOURNAL_PARTIAL_BYTES=-1
      return 0
    fi
    if [[ $header != "$JOURNAL_MAGIC"$'\t'"plan=$PLAN_NAME"$'\t'"fingerprint="* ]]; then
      journal_refuse "is not a journal of this plan (first line: ${header:0:60})"
    fi
    if [[ $header != *$'\t'"fingerprint=$FINGERPRINT" ]]; then
      journal_refuse "was written by a different version of this plan (fingerprint ${header##*fingerprint=}, this script has $FINGERPRINT)"
    fi
    while IFS= read -r line; do
      lineno=$((lineno + 1))
      body=${line%$'\t'*}
      checksum "$body" sum
      [[ $line == "$body"$'\t'"$sum" ]] || journal_refuse "is damaged at line $lineno (checksum mismatch: edited by hand?)"
      IFS=$'\t' read -r -a fields <<<"$body"
      kind=${fields[0]:-} seq=${fields[1]:-} ts=${fields[2]:-}
      [[ $seq =~ ^[0-9]+$ && $seq -eq $expected_seq ]] || journal_refuse "is damaged at line $lineno (events missing or out of order)"
      expected_seq=$((expected_seq + 1))
      n=${fields[3]:-} id=${fields[4]:-} f4=${fields[5]:-} f5=${fields[6]:-} f6=${fields[7]:-}
      case $kind in
        RUN) continue ;;
        START | END) ;;
        *) journal_refuse "is damaged at line $lineno (unknown entry '${kind:0:20}')" ;;
      esac
      if ! [[ $n =~ ^[0-9]+$ ]] || ((n < 1 || n > STEP_COUNT)) || [[ ${STEP_ID[n]} != "$id" ]]; then
        journal_refuse "is damaged at line $lineno (step '${n:0:10}' '${id:0:40}' is not in this plan)"
      fi
      if [[ $kind == START ]]; then
        [[ $f4 =~ ^[0-9]+$ ]] || journal_refuse "is damaged at line $lineno (bad attempt number)"
        [[ $f5 =~ ^([0-9]+|-)$ ]] || journal_refuse "is damaged at line $lineno (bad process id)"
        STATUS[n]=interrupted
        STATUS_TIME[n]=$ts
        ATTEMPTS[n]=$f4
        STARTED_PGID[n]=${f5//-/}
      else
        case $f4 in
          done | by-hand | skipped | failed | interrupted) ;;
          *) journal_refuse "is damaged at line $lineno (unknown status '${f4:0:20}')" ;;
        esac
        [[ $f5 =~ ^-?[0-9]*$ && $f6 =~ ^[0-9]*$ ]] || journal_refuse "is damaged at line $lineno (bad exit code or duration)"
        STATUS[n]=$f4
        STATUS_TIME[n]=$ts
        DURATION[n]=$f6
        STARTED_PGID[n]=''
      fi
    done
    if [[ -n $line ]]; then
      local LC_ALL=C
      JOURNAL_PARTIAL_BYTES=${#line}
      printf '%s\n' "${YELLOW}The journal's last line was cut short (a crash or a full disk while writing it); it is ignored.${RESET}" >&2
    fi
  } <"$JOURNAL"
  JOURNAL_SEQ=$((expected_seq - 1))
}

open_journal() {
  local fresh=0 size
  if ((JOURNAL_PARTIAL_BYTES != 0)); then
    # Drop the cut-short line so that the next entry starts on a line of its own.
    size=$(stat -c %s -- "$JOURNAL") || die "cannot read the size of the journal $JOURNAL"
    ((JOURNAL_PARTIAL_BYTES < 0)) && JOURNAL_PARTIAL_BYTES=$size
    truncate -s "$((size - JOURNAL_PARTIAL_BYTES))" -- "$JOURNAL" || die "cannot repair the journal $JOURNAL"
    log_line "JOURNAL dropped a last line cut short ($JOURNAL_PARTIAL_BYTES bytes)"
    JOURNAL_PARTIAL_BYTES=0
  fi
  [[ -s $JOURNAL ]] || fresh=1
  if ! exec {JOURNAL_FD}>>"$JOURNAL"; then
    die "cannot write the journal $JOURNAL; check the directory is writable, or use --journal FILE"
  fi
  if ((fresh)); then
    if ! printf '%s\tplan=%s\tfingerprint=%s\n' "$JOURNAL_MAGIC" "$PLAN_NAME" "$FINGERPRINT" >&"$JOURNAL_FD"; then
      die "cannot write the journal $JOURNAL (disk full?)"
    fi
  fi
}

reset_journal() {
  [[ -e $JOURNAL ]] || return 0
  local ts kept
  printf -v ts '%(%Y%m%dT%H%M%S)T' -1
  kept="$JOURNAL.reset-$ts"
  mv -- "$JOURNAL" "$kept" || die "cannot move the old journal aside to $kept"
  say "The old journal is kept as $kept."
  log_line "RESET journal moved to $kept"
}

# --- Running commands ---------------------------------------------------------------------------

# The output pump: one process for the whole run copies every step's output to the
# screen and, line by line with a timestamp, to the log. A step writes into it through
# PUMP_FD; after the step, a marker line (PUMP_TOKEN, unguessable) goes down the same
# pipe and the pump answers on ACK_FD once everything before it is shown and logged.
# One pump instead of one per step saves a process per step, and a daemon that a step
# leaves holding the pipe cannot make the run wait.
pump() {
  trap '' INT HUP
  [[ -n $LOCK_FD ]] && exec {LOCK_FD}>&-
  [[ -n $JOURNAL_FD ]] && exec {JOURNAL_FD}>&-
  local line ts step=0 marker
  while IFS= read -r line || [[ -n $line ]]; do
    marker=''
    if [[ $line == *"$PUMP_TOKEN"* ]]; then
      marker=${line#*"$PUMP_TOKEN"}
      line=${line%%"$PUMP_TOKEN"*}
      [[ -n $line ]] || { pump_marker "$marker"; continue; }
    fi
    printf '  | %s\n' "$line"
    if [[ -n $LOG_FD ]]; then
      printf -v ts '%(%Y-%m-%dT%H:%M:%S%z)T' -1
      printf '%s [%s] OUT step %s: %s\n' "$ts" "$OPERATOR" "$step" "$line" 1>&"$LOG_FD" 2>/dev/null || true
    fi
    [[ -z $marker ]] || pump_marker "$marker"
  done
}

# pump_marker "begin N" | "end N": the pump's side of the handshake.
pump_marker() {
  case $1 in
    begin\ *) step=${1#begin } ;;
    end\ *) printf '%s\n' "$1" 1>&"$ACK_FD" 2>/dev/null || true ;;
  esac
}

start_pump() {
  local hex
  printf -v hex '%04x%04x%04x%04x' "$RANDOM" "$RANDOM" "$RANDOM" "$$"
  PUMP_TOKEN=$'\x1f'"runbook-$hex:"
  # shellcheck disable=SC2312  # nothing to check: the substitution only has to exist
  exec {ACK_FD}<> <(:)
  # shellcheck disable=SC2312  # the same: a pipe on which a new step waits for "go"
  exec {GO_FD}<> <(:)
  # shellcheck disable=SC2312  # the pump's own status does not matter
  exec {PUMP_FD}> >(pump)

}

# pump_sync N: wait until the pump has shown and logged all output of step N so far (or
# has been silent for 5 seconds). A wait that ends in the middle of a line keeps its part.
pump_sync() {
  local ack line='' status
  printf '%send %s\n' "$PUMP_TOKEN" "$1" 1>&"$PUMP_FD" 2>/dev/null || return 0
  while true; do
    IFS= read -r -t 5 -u "$ACK_FD" ack
    status=$?
    line+=$ack
    if ((status == 0)); then
      [[ $line == "end $1" ]] && return 0
      line=''
    elif ((status <= 128)) || [[ -z $ack ]]; then
      return 0
    fi
  done
}

# The command run on a remote host: decode the step, run it in its own process group, and
# kill that group if the connection goes away (sshd exits; a local timeout or Ctrl-C ended
# ssh). A remote exit status 255 becomes 254, so 255 always means "ssh itself failed".
# shellcheck disable=SC2016  # expanded by the remote shell, not here
readonly REMOTE_WRAPPER='c=$(printf %s "$1" | base64 -d) || exit 254
setsid bash -eo pipefail -c "$c" </dev/null & p=$!
( while kill -0 "$PPID" 2>/dev/null && kill -0 "$p" 2>/dev/null; do sleep 1; done
  kill -0 "$p" 2>/dev/null && kill -TERM -- "-$p" 2>/dev/null ) </dev/null >/dev/null 2>&1 & w=$!
wait "$p"; rc=$?
kill "$w" 2>/dev/null
[ "$rc" -eq 255 ] && rc=254
exit "$rc"'

# The step launcher: one process for the whole run starts every step's command and waits
# for it. A step asks it through LAUNCH_FD ("N KIND GATE"); it answers on REPLY_FD
# "started PID" (the step's process group) and then "ended STATUS". Forking the main shell
# for each step cost about a millisecond (copy-on-write faults over everything it touched
# since the last fork); the launcher touches almost nothing between forks. It holds the
# plan data (it is forked after it is loaded) and none of the lock, journal or log.
launcher() {
  trap '' INT HUP TERM
  close_run_files
  local n kind gate code b64 ssh_program pid status
  local -a command
  printf 'ready %s\n' "$BASHPID" 1>&"$REPLY_FD"
  while IFS=' ' read -r n kind gate; do
    if [[ $kind == run ]]; then code=${STEP_RUN[n]}; b64=${STEP_RUN_B64[n]:-}; else code=${STEP_VERIFY[n]}; b64=${STEP_VERIFY_B64[n]:-}; fi
    if [[ -n ${STEP_HOST[n]:-} ]]; then
      ssh_program=${RUNBOOK_SSH:-ssh}
      command=("$ssh_program" -T -o BatchMode=yes -o "ConnectTimeout=$SSH_CONNECT_TIMEOUT"
        -o ServerAliveInterval=15 -o ServerAliveCountMax=4)
      [[ -n ${STEP_PORT[n]:-} ]] && command+=(-p "${STEP_PORT[n]}")
      command+=(-- "${STEP_TARGET[n]}" "bash -c '$REMOTE_WRAPPER' runbook-step $b64")
    else
      command=(bash -eo pipefail -c "$code")
    fi
    # The step gets no terminal input (a question it asks fails fast instead of hanging
    # or eating the operator's keys), none of our file descriptors (a daemon it starts
    # must not hold our pipes), and the signals' usual effects back. Job control
    # (`set -m`), on only while it starts, gives it a process group of its own, which a
    # timeout or Ctrl-C stops as a whole. A step's command waits for "go" until its
    # START, naming that group, is in the journal: it never runs unrecorded.
    set -m
    (
      trap - INT HUP TERM PIPE XFSZ
      if ((gate)); then IFS= read -r -t 30 -u "$GO_FD" _ || exit 125; fi
      close_private_fds
      umask "$OPERATOR_UMASK"
      exec "${command[@]}" </dev/null 1>&"$PUMP_FD" 2>&1 {PUMP_FD}>&-
    ) &
    pid=$!
    set +m
    printf 'started %s\n' "$pid" 1>&"$REPLY_FD"
    status=0
    wait "$pid" || status=$?
    printf 'ended %s\n' "$status" 1>&"$REPLY_FD"
  done
}

start_launcher() {
  # shellcheck disable=SC2312  # nothing to check: the substitution only has to exist
  exec {REPLY_FD}<> <(:)
  # shellcheck disable=SC2312  # the launcher's own status does not matter
  exec {LAUNCH_FD}> >(launcher)
  # Its pid from itself, not from $!, which older bash versions leave unset for a
  # process substitution.
  local ready=''
  IFS= read -r -t 10 -u "$REPLY_FD" ready
  [[ $ready =~ ^ready\ ([0-9]+)$ ]] || die "the step launcher did not start; stopping" "$EXIT_FAILED"
  LAUNCHER_PID=${BASH_REMATCH[1]}
}

# launcher_reply WORD VAR SECONDS: read the launcher's next answer ("WORD VALUE") into VAR,
# waiting at most SECONDS. Fails on a timeout; stops the run if the launcher is gone.
# A slice that ends in the middle of a line keeps what it read (REPLY_PARTIAL).
launcher_reply() {
  local _chunk
  if IFS= read -r -t "$3" -u "$REPLY_FD" _chunk; then
    _chunk=$REPLY_PARTIAL$_chunk
    REPLY_PARTIAL=''
    [[ $_chunk == "$1 "* ]] || die "the step launcher answered '$_chunk' instead of '$1'; stopping" "$EXIT_FAILED"
    printf -v "$2" '%s' "${_chunk#"$1 "}"
    return 0
  fi
  REPLY_PARTIAL+=$_chunk
  kill -0 "$LAUNCHER_PID" 2>/dev/null && return 1
  die "the step launcher (process $LAUNCHER_PID) is gone; step $CURRENT_STEP may still be running (process group ${STEP_PID:-unknown}); stopping" "$EXIT_FAILED"
}

# execute N KIND LIMIT: run STEP_RUN or STEP_VERIFY (KIND run|verify) of step N, locally or
# over ssh, through the launcher, stopping it after LIMIT seconds (0: no limit) as
# coreutils' `timeout -k KILL_GRACE` would: TERM to its process group, KILL if it is still
# there KILL_GRACE seconds later; status 124 when it was stopped, 137 when it was killed.
# Waits in slices of at most a second, so that a signal's trap runs at once. Sets RC.
execute() {
  local n=$1 kind=$2 limit=$3 gate=0 now deadline=0 left slice stopping=''
  [[ -n $PUMP_FD ]] || start_pump
  [[ -n $LAUNCH_FD ]] || start_launcher
  printf '%sbegin %s\n' "$PUMP_TOKEN" "$n" 1>&"$PUMP_FD" 2>/dev/null || true
  if [[ $kind == run ]]; then gate=$START_PENDING START_PENDING=0; fi
  printf '%s %s %s\n' "$n" "$kind" "$gate" 1>&"$LAUNCH_FD" 2>/dev/null ||
    die "the step launcher (process $LAUNCHER_PID) is gone; stopping before step $n" "$EXIT_FAILED"
  LAUNCH_PENDING=1
  while ! launcher_reply started STEP_PID 1; do :; done
  LAUNCH_PENDING=0
  if ((gate)); then
    journal_write START "$n" "${STEP_ID[n]}" "$gate" "$STEP_PID"
    printf 'go\n' 1>&"$GO_FD"
  fi
  now_us now
  ((limit > 0)) && deadline=$((now + limit * 1000000))
  while true; do
    slice=1
    if ((deadline > 0)); then
      left=$((deadline - now))
      if ((left <= 0)); then
        if [[ -z $stopping ]] && kill -TERM -- "-$STEP_PID" 2>/dev/null; then
          kill -CONT -- "-$STEP_PID" 2>/dev/null  # a stopped process acts on TERM only once continued
          stopping='term'
          deadline=$((now + KILL_GRACE * 1000000))
          log_line "TIMEOUT step $n: sent TERM to process group $STEP_PID after ${limit}s"
        elif [[ $stopping == term ]] && kill -KILL -- "-$STEP_PID" 2>/dev/null; then
          stopping='kill'
          deadline=0
          log_line "TIMEOUT step $n: sent KILL to process group $STEP_PID after ${KILL_GRACE}s more"
        else
          deadline=0  # it ended meanwhile: its status is on its way
        fi
        continue
      fi
      ((left < 1000000)) && printf -v slice '0.%06d' "$left"
    fi
    launcher_reply ended RC "$slice" && break
    now_us now
  done
  case $stopping in term) RC=124 ;; kill) RC=137 ;; *) ;; esac
  STEP_PID=''
  pump_sync "$n"
}

# close_run_files: let go of the lock, the journal, the log and the run's own pipes (the
# launcher keeps only what it needs to start steps; a step keeps none of them).
close_run_files() {
  [[ -n $LOCK_FD ]] && exec {LOCK_FD}>&-
  [[ -n $LOG_FD ]] && exec {LOG_FD}>&-
  [[ -n $JOURNAL_FD ]] && exec {JOURNAL_FD}>&-
  [[ -n $SLEEP_FD ]] && exec {SLEEP_FD}>&-
  [[ -n $ACK_FD ]] && exec {ACK_FD}>&-
  LOCK_FD='' LOG_FD='' JOURNAL_FD='' SLEEP_FD='' ACK_FD=''
}

# close_private_fds: everything close_run_files closes, and the launcher's pipes too.
close_private_fds() {
  close_run_files
  [[ -n $GO_FD ]] && exec {GO_FD}>&-
  [[ -n $REPLY_FD ]] && exec {REPLY_FD}>&-
  return 0
}

describe_rc() { # rc -> words
  case $1 in
    0) printf -v "$2" '%s' 'succeeded' ;;
    124) printf -v "$2" '%s' 'timed out' ;;
    137) printf -v "$2" '%s' 'killed after timing out (it ignored TERM)' ;;
    126) printf -v "$2" '%s' 'failed: command not executable (exit 126)' ;;
    127) printf -v "$2" '%s' 'failed: command not found (exit 127)' ;;
    255) printf -v "$2" '%s' "failed: ssh could not run it on ${STEP_HOST[CURRENT_STEP]:-the host} (exit 255)" ;;
    *) printf -v "$2" '%s' "failed with exit status $1" ;;
  esac
}

# run_and_check N: the command (if any) then the check; sets RC and FAILURE.
run_and_check() {
  local n=$1 words limit deadline_us now try=1 delay=1 left
  FAILURE=''
  if [[ -n ${STEP_RUN[n]:-} ]]; then
    limit=${STEP_TIMEOUT[n]:-0}
    words='no timeout'
    ((limit > 0)) && words="timeout ${limit}s"
    log_line "RUN step $n ${STEP_ID[n]} ($words):"
    log_text "  $" "${STEP_RUN_SHOWN[n]-${STEP_RUN[n]}}"
    execute "$n" run "$limit"
    describe_rc "$RC" words
    log_line "EXIT step $n: $RC ($words)"
    if ((RC != 0)); then
      FAILURE="the command $words"
      say "${RED}The command $words.${RESET}"
      return 0
    fi
    say "${GREEN}The command succeeded.${RESET}"
  fi
  [[ -n ${STEP_VERIFY[n]:-} ]] || return 0
  local verify_timeout=${STEP_VERIFY_TIMEOUT[n]:-0}
  now_us now
  deadline_us=$((now + verify_timeout * 1000000))
  while true; do
    limit=$DEFAULT_VERIFY_TRY
    if ((verify_timeout > 0)); then
      now_us now
      left=$(((deadline_us - now) / 1000000))
      ((left < 1)) && left=1
      ((left < limit)) && limit=$left
    fi
    say "Checking (try $try)..."
    log_line "VERIFY step $n try $try (limit ${limit}s)"
    execute "$n" verify "$limit"
    describe_rc "$RC" words
    log_line "EXIT step $n check try $try: $RC ($words)"
    if ((RC == 0)); then
      say "${GREEN}The check passed.${RESET}"
      return 0
    fi
    now_us now
    if ((verify_timeout == 0 || now + delay * 1000000 >= deadline_us)); then
      FAILURE="the check $words (try $try)"
      local tries='tries'
      ((try == 1)) && tries='try'
      say "${RED}The check $words; giving up after $try $tries.${RESET}"
      return 0
    fi
    human_duration "$(((deadline_us - now) / 1000000))" left
    say "The check $words; trying again in ${delay}s ($left left)."
    pause "$delay"
    try=$((try + 1))
    delay=$((delay * 2))
    ((delay > 10)) && delay=10
  done
}

# --- Showing a step ---------------------------------------------------------------------------

show_step() {
  local n=$1 elapsed_us now el est='' deps='' d status where
  now_us now
  elapsed_us=$((now - RUN_START_US))
  clock "$((elapsed_us / 1000000))" el
  if ((REMAINING_ESTIMATE > 0)); then
    human_duration "$REMAINING_ESTIMATE" est
    est=", about $est of estimated work left"
  fi
  say ""
  say "${BOLD}=== Step $n/$STEP_COUNT: ${STEP_ID[n]}${RESET}    (elapsed $el$est)"
  say "${BOLD}${STEP_TITLE[n]}${RESET}"
  say "  source:   $PLAN_SOURCE line ${STEP_LINE[n]}"
  if [[ -n ${STEP_HOST[n]:-} ]]; then
    where="site ${STEP_SITE[n]}, host ${STEP_HOST[n]} (${STEP_TARGET[n]}${STEP_PORT[n]:+ port ${STEP_PORT[n]}}, over ssh)"
  else
    where="site ${STEP_SITE[n]}, on this machine (${HOSTNAME:-local})"
  fi
  say "  where:    $where"
  [[ -n ${STEP_OWNER[n]:-} ]] && say "  owner:    ${STEP_OWNER[n]}"
  for d in ${STEP_REQUIRES[n]:-}; do
    journal_status_of "$d" status
    deps+="${deps:+, }$d ${STEP_ID[d]} ($status)"
  done
  [[ -n $deps ]] && indent "  requires: " "$deps"
  deps=''
  for d in ${STEP_AFTER[n]:-}; do
    journal_status_of "$d" status
    deps+="${deps:+, }$d ${STEP_ID[d]} ($status)"
  done
  [[ -n $deps ]] && indent "  after:    " "$deps"
  if [[ -n ${STEP_RUN[n]:-} ]]; then
    indent "  run:      " "${STEP_RUN_SHOWN[n]-${STEP_RUN[n]}}"
    local t=${STEP_TIMEOUT[n]:-0} words
    if ((t > 0)); then human_duration "$t" words; say "  timeout:  $words"; fi
  else
    say "  manual step: a person does this"
  fi
  if [[ -n ${STEP_INSTRUCTIONS[n]:-} ]]; then indent "  do:       " "${STEP_INSTRUCTIONS[n]}"; fi
  if [[ -n ${STEP_VERIFY[n]:-} ]]; then
    indent "  check:    " "${STEP_VERIFY_SHOWN[n]-${STEP_VERIFY[n]}}"
    if ((${STEP_VERIFY_TIMEOUT[n]:-0} > 0)); then
      local vt
      human_duration "${STEP_VERIFY_TIMEOUT[n]}" vt
      say "            (re-tried until it passes, for up to $vt)"
    fi
  fi
  if [[ ${STATUS[n]:-} == interrupted ]]; then
    say "${YELLOW}  NOTE: this step was started at ${STATUS_TIME[n]} but never finished: its outcome is unknown.${RESET}"
    say "${YELLOW}        Check what it did before running it again.${RESET}"
  elif [[ -n ${STATUS[n]:-} ]]; then
    journal_status_of "$n" status
    say "  before:   $status at ${STATUS_TIME[n]}"
  fi
  log_line "STEP $n/$STEP_COUNT ${STEP_ID[n]}: ${STEP_TITLE[n]} [$where]"
}

show_rollback() {
  local n=$1
  if [[ -n ${STEP_ROLLBACK[n]:-} ]]; then
    say "${YELLOW}Rollback for this step:${RESET}"
    indent "  " "${STEP_ROLLBACK[n]}"
  fi
}

# --- One step ------------------------------------------------------------------------------

finish_step() { # n status rc seconds
  STATUS[$1]=$2
  timestamp "STATUS_TIME[$1]"
  DURATION[$1]=$4
  journal_write END "$1" "${STEP_ID[$1]}" "$2" "$3" "$4"
  log_line "STATUS step $1 ${STEP_ID[$1]}: $2"
  case $2 in done | by-hand | skipped) REMAINING_ESTIMATE=$((REMAINING_ESTIMATE - ${STEP_ESTIMATE[$1]:-0})) ;; esac
  ((REMAINING_ESTIMATE < 0)) && REMAINING_ESTIMATE=0
  return 0
}

# step_still_running N: whether the process group recorded for step N is still alive.
step_still_running() {
  local pgid=${STARTED_PGID[$1]:-}
  [[ -n $pgid ]] && kill -0 -- "-$pgid" 2>/dev/null
}

# blocker N VAR: the first required step that was skipped, failed or is itself blocked.
blocker() {
  local _d
  for _d in ${STEP_REQUIRES[$1]:-}; do
    case ${STATUS[_d]:-} in
      skipped | failed | blocked | interrupted) printf -v "$2" '%s' "$_d"; return 0 ;;
    esac
  done
  printf -v "$2" '%s' ''
}

# do_step N: show, ask, run, check, record. Returns 1 when the run must stop.
do_step() {
  local n=$1 answer start_us end_us seconds block attempt
  CURRENT_STEP=$n
  blocker "$n" block
  if [[ -n $block ]]; then
    local bs
    journal_status_of "$block" bs
    STATUS[n]=blocked
    say ""
    say "${YELLOW}=== Step $n/$STEP_COUNT: ${STEP_ID[n]} is blocked: it requires step $block ${STEP_ID[block]}, which is $bs.${RESET}"
    log_line "BLOCKED step $n ${STEP_ID[n]} by step $block ${STEP_ID[block]} ($bs)"
    return 0
  fi
  show_step "$n"
  local d dep_status
  for d in ${STEP_REQUIRES[n]:-}; do
    case ${STATUS[d]:-} in
      done | by-hand | 'would run') ;;
      *)
        journal_status_of "$d" dep_status
        say "${YELLOW}  Note: it requires step $d ${STEP_ID[d]}, which is not done ($dep_status).${RESET}" ;;
    esac
  done
  if ((OPT_DRY_RUN)); then
    if [[ -n ${STEP_RUN[n]:-} ]]; then say "  (dry run: not run)"; else say "  (dry run: manual step, would wait for a person)"; fi
    STATUS[n]='would run'
    return 0
  fi
  local ask_anyway=0
  if [[ ${STATUS[n]:-} == interrupted ]]; then
    if step_still_running "$n"; then
      say "${RED}Step $n may still be running: its process group ${STARTED_PGID[n]} is alive.${RESET}"
      say "Wait for it to end, or stop it with: kill -TERM -- -${STARTED_PGID[n]}"
      log_line "STOP step $n still running as process group ${STARTED_PGID[n]}"
      EXIT_STATUS=$EXIT_FAILED
      return 1
    fi
    if ((OPT_YES && !OPT_RERUN_INTERRUPTED)); then
      say "${RED}Stopping before step $n: its earlier run was interrupted and its outcome is unknown.${RESET}"
      say "Check it, then run again interactively, or add --rerun-interrupted to run it again unattended."
      log_line "STOP before interrupted step $n (--yes without --rerun-interrupted)"
      EXIT_STATUS=$EXIT_FAILED
      return 1
    fi
    ((OPT_YES)) || ask_anyway=1
  fi
  if is_skipped_by_option "$n"; then
    say "Skipped (--skip)."
    finish_step "$n" skipped - 0
    return 0
  fi

  # Decide.
  if [[ -z ${STEP_RUN[n]:-} ]]; then
    if ! ((SEEN_TTY)); then
      say "${RED}Step $n is a manual step and needs a person at a terminal; stopping here.${RESET}"
      say "Run this script again from a terminal to continue; finished steps will not run again."
      log_line "STOP at manual step $n: no terminal"
      EXIT_STATUS=$EXIT_FAILED
      return 1
    fi
    ask answer "Type 'done' when it is done, or [s] skip  [q] quit: " done=done s=skip skip=skip q=quit quit=quit
  elif ((AUTO && !ask_anyway)); then
    say "Running without asking ($AUTO_REASON)."
    log_line "ANSWER step $n: run (auto: $AUTO_REASON)"
    answer=run
  else
    ask answer "[y] run   [s] skip   [a] run this and all remaining without asking   [q] quit: " \
      y=run yes=run s=skip skip=skip a=all all=all q=quit quit=quit
    if [[ $answer == all ]]; then
      AUTO=1 AUTO_REASON="answer [a] at step $n"
      answer=run
    fi
  fi
  case $answer in
    skip) finish_step "$n" skipped - 0; say "Skipped."; return 0 ;;
    quit) EXIT_STATUS=$EXIT_QUIT; say "Quitting at step $n."; return 1 ;;
  esac

  # Run, check, and on failure let the operator decide.
  while true; do
    attempt=$((${ATTEMPTS[n]:-0} + 1))
    ATTEMPTS[n]=$attempt
    now_us start_us
    if [[ -n ${STEP_RUN[n]:-} && $answer != 'done' ]]; then
      START_PENDING=$attempt  # written by `execute`, with the process group
    else
      journal_write START "$n" "${STEP_ID[n]}" "$attempt" -
    fi
    STATUS[n]=interrupted
    if [[ $answer == 'done' ]]; then
      log_line "MANUAL step $n reported done by the operator"
      RC=0 FAILURE=''
      [[ -n ${STEP_VERIFY[n]:-} ]] && run_and_check "$n"
    else
      run_and_check "$n"
    fi
    now_us end_us
    seconds=$(((end_us - start_us) / 1000000))
    if [[ -z $FAILURE ]]; then
      finish_step "$n" 'done' "$RC" "$seconds"
      say "${GREEN}Step $n done.${RESET}"
      return 0
    fi
    finish_step "$n" failed "$RC" "$seconds"
    say "${RED}Step $n failed: $FAILURE.${RESET}"
    show_rollback "$n"
    if ((OPT_YES || !SEEN_TTY)); then
      say "Stopping: a failed step stops an unattended run. Fix the cause, then run the script again."
      EXIT_STATUS=$EXIT_FAILED
      return 1
    fi
    if ((AUTO)); then
      AUTO=0
      say "Asking again from here on, since a step failed."
    fi
    local choice
    ask choice "[r] retry   [s] skip   [d] done by hand   [q] quit: " \
      r=retry retry=retry s=skip skip=skip d=by-hand done=by-hand q=quit quit=quit
    case $choice in
      retry) say "Retrying step $n."; [[ $answer == 'done' ]] && answer=run ;;
      skip) finish_step "$n" skipped - 0; say "Skipped."; return 0 ;;
      by-hand) finish_step "$n" by-hand - 0; say "Recorded as done by hand."; return 0 ;;
      quit) EXIT_STATUS=$EXIT_QUIT; say "Quitting at step $n."; return 1 ;;
    esac
  done
}

# --- Whole run --------------------------------------------------------------------------------

list_steps() {
  local n status width=${#STEP_COUNT} id_width=2
  for ((n = 1; n <= STEP_COUNT; n++)); do
    ((${#STEP_ID[n]} > id_width)) && id_width=${#STEP_ID[n]}
  done
  ((id_width > 40)) && id_width=40
  say "$PLAN_TITLE"
  say "fingerprint $FINGERPRINT, journal $JOURNAL"
  for ((n = 1; n <= STEP_COUNT; n++)); do
    journal_status_of "$n" status
    printf '%*d  %-12s  %-*s  %s\n' "$width" "$n" "$status" "$id_width" "${STEP_ID[n]}" "${STEP_TITLE[n]}"
  done
}

# shellcheck disable=SC2329  # called by on_exit
summary() {
  local n status d total_done=0 line
  say ""
  say "${BOLD}Summary of $PLAN_NAME${RESET} (fingerprint ${FINGERPRINT:0:12})"
  for ((n = 1; n <= STEP_COUNT; n++)); do
    journal_status_of "$n" status
    d=''
    if [[ -n ${DURATION[n]:-} ]]; then human_duration "${DURATION[n]}" d; d=" in $d"; fi
    printf -v line '%*d  %-12s  %s%s' "${#STEP_COUNT}" "$n" "$status" "${STEP_ID[n]}" "$d"
    say "$line"
    log_line "SUMMARY $line"
    case ${STATUS[n]:-} in done | by-hand | skipped) total_done=$((total_done + 1)) ;; esac
  done
  say "$total_done of $STEP_COUNT steps finished. Journal: $JOURNAL  Log: $LOG_FILE"
  if ((total_done < STEP_COUNT)); then
    say "Run ${SCRIPT_PATH} again to resume; finished steps will not run again."
  fi
}

# shellcheck disable=SC2329  # invoked by trap
on_exit() {
  local status=$?
  trap - EXIT
  if ((!FINISHED && RUN_START_US > 0 && !OPT_DRY_RUN)); then
    FINISHED=1
    [[ -n $JOURNAL_FD ]] && journal_write RUN end "exit=$status" >/dev/null 2>&1
    summary
  fi
  log_line "END exit status $status"
  exit "$status"
}

# on_signal NAME STATUS: Ctrl-C, a hang-up (the operator's connection dropped) or TERM.
# A running step is stopped and recorded as interrupted: its outcome is unknown, so the
# next run offers it again. Never recorded as done.
# shellcheck disable=SC2329  # invoked by trap
on_signal() {
  set +o nounset
  trap '' TERM HUP
  trap 'KILL_NOW=1' INT
  local name=$1 status=$2 i
  printf '\n%s\n' "${YELLOW}$name received.${RESET}" >&2
  log_line "SIGNAL $name"
  if [[ -z $STEP_PID ]] && ((LAUNCH_PENDING)); then
    # Stopped between asking for a step and hearing its process group: hear it now, so
    # that the step does not go on unseen. Only a whole answer counts: a number cut
    # short would name some other process group.
    local reply=''
    IFS= read -r -t 2 -u "$REPLY_FD" reply
    reply=$REPLY_PARTIAL$reply
    [[ $reply =~ ^started\ ([0-9]+)$ ]] && STEP_PID=${BASH_REMATCH[1]}
  fi
  if [[ -n $STEP_PID ]]; then
    printf '%s\n' "Stopping step $CURRENT_STEP (TERM now, KILL in ${KILL_GRACE}s; press Ctrl-C again to kill it now)..." >&2
    kill -TERM -- "-$STEP_PID" 2>/dev/null
    kill -CONT -- "-$STEP_PID" 2>/dev/null
    for ((i = 0; i < KILL_GRACE * 10 && !KILL_NOW; i++)); do
      kill -0 "$STEP_PID" 2>/dev/null || break
      pause 0.1
    done
    kill -KILL -- "-$STEP_PID" 2>/dev/null
    STEP_PID=''
    [[ -n $JOURNAL_FD ]] && journal_write END "$CURRENT_STEP" "${STEP_ID[CURRENT_STEP]}" interrupted "$status" 0
    STATUS[CURRENT_STEP]=interrupted
    log_line "INTERRUPTED step $CURRENT_STEP ${STEP_ID[CURRENT_STEP]}: outcome unknown"
  fi
  trap '' INT
  exit "$status"
}

main() {
  parse_args "$@"
  setup_colors
  OPERATOR=$(id -un 2>/dev/null || printf '%s' "${USER:-unknown}")
  [[ -n ${SUDO_USER:-} ]] && OPERATOR+=" (sudo from $SUDO_USER)"
  command -v flock >/dev/null 2>&1 || die "missing program: flock (util-linux provides it)" "$EXIT_USAGE"

  if ((OPT_LIST)); then
    ((OPT_RESET)) && usage_error "--list and --reset cannot be combined"
    read_journal
    list_steps
    exit "$EXIT_OK"
  fi
  if ((OPT_DRY_RUN)); then
    ((OPT_RESET)) || read_journal
    say "${BOLD}DRY RUN${RESET}: nothing will be run, no journal or log written."
  else
    if have_tty; then SEEN_TTY=1; fi
    if ((!OPT_YES && !SEEN_TTY)); then
      printf '%s\n' "${SCRIPT_PATH##*/}: no terminal to ask for confirmation: run it from a terminal," \
        "or add --yes to run every step without asking. Nothing was run." >&2
      exit "$EXIT_USAGE"
    fi
    if ! exec {LOG_FD}>>"$LOG_FILE"; then
      LOG_FD=''
      die "cannot open the log $LOG_FILE; check the directory is writable, or use --log FILE"
    fi
    take_lock
    ((OPT_RESET)) && reset_journal
    read_journal
    open_journal
    ((OPT_YES)) && AUTO=1 AUTO_REASON='--yes'
    local tty_name=''
    ((SEEN_TTY)) && tty_name=$(tty 2>/dev/null </dev/tty || true)
    log_line "START $PLAN_NAME fingerprint $FINGERPRINT compiler $COMPILER_VERSION; operator $OPERATOR on ${HOSTNAME:-?} tty ${tty_name:-none} ssh ${SSH_CONNECTION:-none}; args: $*"
    journal_write RUN start "$OPERATOR" "${HOSTNAME:-?}" "$( ((OPT_YES)) && printf yes || printf interactive)"
  fi
  trap on_exit EXIT
  trap 'on_signal Ctrl-C 130' INT
  trap 'on_signal Hang-up 129' HUP
  trap 'on_signal TERM 143' TERM

  say "${BOLD}$PLAN_TITLE${RESET}"
  say "Plan $PLAN_NAME, $STEP_COUNT steps, fingerprint ${FINGERPRINT:0:12}${CRITICAL_PATH:+, estimated critical path $CRITICAL_PATH}"
  if ((!OPT_DRY_RUN && SEEN_TTY && !OPT_YES)) && [[ -z ${TMUX:-} && -z ${STY:-} ]]; then
    say "Tip: run this inside tmux or screen, so that a dropped connection does not stop it."
  fi

  local n first=1 done_before=0
  ((OPT_FROM)) && first=$OPT_FROM
  for ((n = 1; n <= STEP_COUNT; n++)); do
    case ${STATUS[n]:-} in
      done | by-hand | skipped) done_before=$((done_before + 1)) ;;
      *) REMAINING_ESTIMATE=$((REMAINING_ESTIMATE + ${STEP_ESTIMATE[n]:-0})) ;;
    esac
  done
  ((done_before > 0)) && say "Resuming: $done_before of $STEP_COUNT steps are already finished (see --list)."
  now_us RUN_START_US

  for ((n = first; n <= STEP_COUNT; n++)); do
    if [[ -n $OPT_ONLY ]] && ((n != OPT_ONLY)); then continue; fi
    case ${STATUS[n]:-} in
      done | by-hand | skipped)
        if is_skipped_by_option "$n"; then
          local finished
          journal_status_of "$n" finished
          say "Step $n ${STEP_ID[n]} is already finished ($finished): --skip $n changes nothing."
        fi
        [[ -n $OPT_ONLY ]] || continue ;;
    esac
    if ! do_step "$n"; then break; fi
  done

  if ((EXIT_STATUS == EXIT_OK)); then
    for ((n = 1; n <= STEP_COUNT; n++)); do
      case ${STATUS[n]:-} in
        done | by-hand | skipped) ;;
        *) if [[ -z $OPT_ONLY && -z $OPT_FROM ]] || [[ ${STATUS[n]:-} == failed || ${STATUS[n]:-} == blocked ]]; then EXIT_STATUS=$EXIT_FAILED; fi ;;
      esac
    done
  fi
  if ((OPT_DRY_RUN)); then
    say ""
    say "Dry run complete: $STEP_COUNT steps shown, nothing run."
    EXIT_STATUS=$EXIT_OK
  fi
  exit "$EXIT_STATUS"
}

main "$@"
