// forgea_audit_witness: a small C2SP tlog-witness (https://c2sp.org/tlog-witness) that a school's
// IT office, a student union or another campus runs, so that the log's operator cannot rewrite
// history and re-sign it unseen: it cosigns a checkpoint only if it extends the one it cosigned
// before (docs/witnesses.md).
//
//   forgea_audit_witness --name NAME --key KEY.pem --state FILE --log VKEY... [--listen ADDR:PORT]
//
// It serves POST /add-checkpoint: checks the log's signature with the vkeys it was given (the
// vkey's name is the log's origin), the old size against the size it last cosigned for that
// origin, the consistency proof from there, and answers with the spec's status (src/core/witness:
// 404 unknown origin, 403 no trusted signature, 400 malformed or old size above the checkpoint's,
// 409 with its size as body when the old size is not its own or the same size has another root,
// 422 when the proof does not verify) or 200 and one cosignature/v1 line.  The new state is
// written to disk (temporary file, fsync, rename, fsync of the directory) before the cosignature
// leaves the process, and requests are handled one at a time, so the check of the old size and
// the update are atomic and a crash at any point never forgets a cosigned size nor cosigns two
// forks.  One process per state file (an exclusive lock on FILE.lock).
//
// Single-threaded: one poll() loop over at most 64 connections, each request bounded in size (8
// KiB head, 64 KiB body) and in time (--timeout, default 10 s, from its first byte; idle
// keep-alive connections are closed after the same time), so a slow or malformed client cannot
// hang it.  Plain HTTP: put it behind nginx for TLS (docs/witnesses.md).
//
// Pure core (src/core: witness, note parsing, Merkle consistency) + OpenSSL (Ed25519, SHA-256).
#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <csignal>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <vector>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/checkpoint_note.hpp"
#include "core/ed25519.hpp"
#include "core/hasher.hpp"
#include "core/sha256.hpp"
#include "core/witness.hpp"

namespace core = forgea::core;
namespace w = forgea::core::witness;

namespace {

constexpr int kExitBadInput = 2;
constexpr std::size_t kMaxConnections = 64;
constexpr std::size_t kMaxStateFile = 16 * 1024 * 1024;

[[noreturn]] void fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    std::fputs("forgea_audit_witness: ", stderr);
    std::vfprintf(stderr, fmt, ap);
    std::fputc('\n', stderr);
    va_end(ap);
    std::exit(kExitBadInput);
}

// One line per event on stderr, with a UTC timestamp.
void log_line(const char *fmt, ...)
{
    char ts[32];
    time_t now = std::time(nullptr);
    struct tm tm;
    gmtime_r(&now, &tm);
    std::strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
    std::fprintf(stderr, "%s ", ts);
    va_list ap;
    va_start(ap, fmt);
    std::vfprintf(stderr, fmt, ap);
    va_end(ap);
    std::fputc('\n', stderr);
    std::fflush(stderr);
}

struct StringSink final : core::ByteSink {
    std::string s;
    void put(const void *data, std::size_t len) override { s.append(static_cast<const char *>(data), len); }
};

// ---- the state file -------------------------------------------------------------------------------

struct StateFile {
    std::string path, dir, tmp;
    int dir_fd = -1;
};

// Reads the state file (a small regular file: a FIFO or a device is refused, as key files are).
// False if it does not exist.
bool read_state(const StateFile &sf, w::State *state)
{
    int fd = open(sf.path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        if (errno == ENOENT)
            return false;
        fail("cannot open the state file %s: %s", sf.path.c_str(), std::strerror(errno));
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
        fail("the state file %s is not a regular file", sf.path.c_str());
    if (static_cast<std::size_t>(st.st_size) > kMaxStateFile)
        fail("the state file %s is larger than %zu bytes: not a witness state", sf.path.c_str(), kMaxStateFile);
    std::string text;
    char buf[65536];
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            fail("cannot read the state file %s: %s", sf.path.c_str(), std::strerror(errno));
        if (n == 0)
            break;
        text.append(buf, static_cast<std::size_t>(n));
        if (text.size() > kMaxStateFile)
            fail("the state file %s grew while it was read", sf.path.c_str());
    }
    close(fd);
    if (const char *why = w::parse_state(text.data(), text.size(), state))
        fail("the state file %s is damaged (%s): refusing to start rather than forget what was cosigned",
             sf.path.c_str(), why);
    return true;
}

// The new state on disk before anything is answered: temporary file, fsync, rename over the old
// one, fsync of the directory.  A crash leaves the old file or the new one, whole.  False (and
// the in-memory state unchanged by the caller) if any step fails.
bool write_state(const StateFile &sf, const w::State &state, std::string *err)
{
    std::string text = w::format_state(state);
    int fd = open(sf.tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        *err = "cannot create " + sf.tmp + ": " + std::strerror(errno);
        return false;
    }
    for (std::size_t done = 0; done < text.size();) {
        ssize_t n = write(fd, text.data() + done, text.size() - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            *err = "cannot write " + sf.tmp + ": " + std::strerror(errno);
            close(fd);
            return false;
        }
        done += static_cast<std::size_t>(n);
    }
    if (fsync(fd) != 0 || close(fd) != 0) {
        *err = "cannot fsync " + sf.tmp + ": " + std::strerror(errno);
        return false;
    }
    if (rename(sf.tmp.c_str(), sf.path.c_str()) != 0) {
        *err = "cannot rename " + sf.tmp + ": " + std::strerror(errno);
        return false;
    }
    if (fsync(sf.dir_fd) != 0) {
        *err = "cannot fsync " + sf.dir + ": " + std::strerror(errno);
        return false;
    }
    return true;
}

// ---- HTTP -------------------------------------------------------------------------------------------

const char *reason(int status)
{
    switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 411: return "Length Required";
    case 413: return "Content Too Large";
    case 422: return "Unprocessable Entity";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    default: return "Error";
    }
}

std::string response(int status, const char *content_type, const std::string &body, bool close_after,
                     const char *extra_header = nullptr)
{
    char head[512];
    std::snprintf(head, sizeof head, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s%s\r\n", status,
                  reason(status), content_type, body.size(), close_after ? "Connection: close\r\n" : "",
                  extra_header != nullptr ? extra_header : "");
    return head + body;
}

struct Conn {
    int fd = -1;
    std::string peer;
    std::string in, out;
    time_t deadline = 0;
    bool close_after_write = false;
    bool sent_continue = false;
    // After the last answer: the write side is shut and what the client still sends is read and
    // dropped until it closes (or 2 s pass), so that unread input does not make the kernel reset
    // the connection before the client read the answer (a 413 to a client still sending its body).
    bool draining = false;
};

struct Witness {
    std::string name;
    core::Ed25519Key key;
    std::uint32_t key_id = 0;
    w::LogKeys logs;
    w::State state;
    StateFile sf;
    long timeout = 10;
};

// One complete add-checkpoint request: the decision, the state persisted on 200, the cosignature.
std::string handle(Witness &wit, const w::HttpHead &hd, const char *body, std::size_t len, const std::string &peer)
{
    bool close_after = !hd.keep_alive;
    if (hd.target != "/add-checkpoint") {
        log_line("%s 404 %s %s: not the add-checkpoint endpoint", peer.c_str(), hd.method.c_str(), hd.target.c_str());
        return response(404, "text/plain; charset=utf-8", "not found: this witness serves POST /add-checkpoint\n",
                        close_after);
    }
    if (hd.method != "POST") {
        log_line("%s 405 %s %s", peer.c_str(), hd.method.c_str(), hd.target.c_str());
        return response(405, "text/plain; charset=utf-8", "add-checkpoint takes POST\n", close_after, "Allow: POST\r\n");
    }
    w::AddCheckpoint req;
    if (const char *why = w::parse_add_checkpoint(body, len, &req)) {
        log_line("%s 400: %s", peer.c_str(), why);
        return response(400, "text/plain; charset=utf-8", std::string(why) + "\n", close_after);
    }
    core::Sha256 h;
    w::Decision d = w::decide(req, wit.logs, wit.state, h);
    if (d.status == 409) {
        log_line("%s 409 %s old %" PRId64 " size %" PRId64 ": %s", peer.c_str(), d.origin.c_str(), req.old_size, d.size,
                 d.message.c_str());
        return response(409, "text/x.tlog.size", std::to_string(d.known) + "\n", close_after);
    }
    if (d.status != 200) {
        log_line("%s %d %s old %" PRId64 " size %" PRId64 ": %s", peer.c_str(), d.status,
                 d.origin.empty() ? "-" : d.origin.c_str(), req.old_size, d.size, d.message.c_str());
        return response(d.status, "text/plain; charset=utf-8", d.message + "\n", close_after);
    }
    // Persist first: the cosignature exists only once the state that forbids a fork is on disk.
    w::State next = wit.state;
    next[d.origin] = d.next;
    std::string err;
    if (!write_state(wit.sf, next, &err)) {
        log_line("%s 500 %s: the state could not be saved, nothing cosigned: %s", peer.c_str(), d.origin.c_str(),
                 err.c_str());
        return response(500, "text/plain; charset=utf-8", "the witness could not save its state\n", true);
    }
    wit.state.swap(next);
    std::uint64_t ts = static_cast<std::uint64_t>(std::time(nullptr));
    std::string msg = w::cosignature_message(d.text_signed, ts);
    std::uint8_t sig[64];
    if (!core::ed25519_sign(wit.key, msg.data(), msg.size(), sig)) {
        log_line("%s 500 %s: signing failed", peer.c_str(), d.origin.c_str());
        return response(500, "text/plain; charset=utf-8", "signing failed\n", true);
    }
    StringSink line;
    core::write_cosignature_line(core::Bytes{wit.name.data(), wit.name.size()}, wit.key_id, ts, sig, line);
    log_line("%s 200 %s", peer.c_str(), d.message.c_str());
    return response(200, "text/plain; charset=utf-8", line.s, close_after);
}

// Parses what a connection has received: answers every complete request in it, queues the
// answers, and says whether the connection should be dropped at once (malformed, too large).
void serve_input(Witness &wit, Conn &c, time_t now)
{
    while (!c.close_after_write && !c.in.empty()) {
        w::HttpHead hd;
        const char *why = nullptr;
        w::HeadResult r = w::parse_http_head(c.in.data(), c.in.size(), &hd, &why);
        if (r == w::HeadResult::kIncomplete)
            return;
        if (r == w::HeadResult::kBad) {
            log_line("%s 400: %s", c.peer.c_str(), why);
            c.out += response(400, "text/plain; charset=utf-8", std::string(why) + "\n", true);
            c.close_after_write = true;
            return;
        }
        std::int64_t cl = hd.content_length < 0 ? 0 : hd.content_length;
        if (hd.method == "POST" && hd.content_length < 0) {
            c.out += response(411, "text/plain; charset=utf-8", "a Content-Length is required\n", true);
            c.close_after_write = true;
            return;
        }
        if (cl > static_cast<std::int64_t>(w::kMaxRequestBody)) {
            log_line("%s 413: a body of %" PRId64 " bytes", c.peer.c_str(), cl);
            c.out += response(413, "text/plain; charset=utf-8", "the body is larger than 64 KiB\n", true);
            c.close_after_write = true;
            return;
        }
        if (c.in.size() < hd.head_len + static_cast<std::size_t>(cl)) {
            if (hd.expect_continue && !c.sent_continue) {
                c.out += "HTTP/1.1 100 Continue\r\n\r\n";
                c.sent_continue = true;
            }
            return;
        }
        std::string reply = handle(wit, hd, c.in.data() + hd.head_len, static_cast<std::size_t>(cl), c.peer);
        c.out += reply;
        c.in.erase(0, hd.head_len + static_cast<std::size_t>(cl));
        c.sent_continue = false;
        c.deadline = now + wit.timeout;
        if (!hd.keep_alive || reply.find("\r\nConnection: close\r\n") != std::string::npos)
            c.close_after_write = true;
    }
}

volatile sig_atomic_t g_stop = 0;
void on_signal(int) { g_stop = 1; }

int listen_on(const std::string &spec)
{
    std::size_t colon = spec.rfind(':');
    if (colon == std::string::npos)
        fail("--listen takes ADDRESS:PORT (e.g. 127.0.0.1:8620)");
    std::string host = spec.substr(0, colon), port = spec.substr(colon + 1);
    if (host.size() > 1 && host.front() == '[' && host.back() == ']')
        host = host.substr(1, host.size() - 2);
    addrinfo hints{}, *res = nullptr;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    if (int e = getaddrinfo(host.empty() ? nullptr : host.c_str(), port.c_str(), &hints, &res))
        fail("--listen %s: %s", spec.c_str(), gai_strerror(e));
    int fd = socket(res->ai_family, res->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, res->ai_protocol);
    int one = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(fd, res->ai_addr, res->ai_addrlen) != 0 || listen(fd, 64) != 0)
        fail("cannot listen on %s: %s", spec.c_str(), std::strerror(errno));
    freeaddrinfo(res);
    return fd;
}

std::string peer_name(const sockaddr_storage &ss)
{
    char host[NI_MAXHOST] = "?", serv[NI_MAXSERV] = "?";
    getnameinfo(reinterpret_cast<const sockaddr *>(&ss), sizeof ss, host, sizeof host, serv, sizeof serv,
                NI_NUMERICHOST | NI_NUMERICSERV);
    return std::string(host) + ":" + serv;
}

void serve(Witness &wit, int lfd)
{
    std::vector<Conn> conns;
    while (!g_stop) {
        std::vector<pollfd> pfds;
        pfds.push_back(pollfd{lfd, static_cast<short>(conns.size() < kMaxConnections ? POLLIN : 0), 0});
        for (const Conn &c : conns)
            pfds.push_back(pollfd{c.fd, static_cast<short>(c.out.empty() ? POLLIN : POLLOUT), 0});
        for (Conn &c : conns)
            if (c.close_after_write && c.out.empty() && !c.draining && c.deadline != 0) {
                shutdown(c.fd, SHUT_WR);
                c.draining = true;
                c.in.clear();
                c.deadline = std::min<time_t>(c.deadline, std::time(nullptr) + 2);
            }
        int n = poll(pfds.data(), pfds.size(), 1000);
        if (n < 0 && errno != EINTR)
            fail("poll: %s", std::strerror(errno));
        time_t now = std::time(nullptr);
        std::size_t polled = conns.size();  // connections accepted below were not polled yet
        if (n > 0 && (pfds[0].revents & POLLIN)) {
            for (;;) {
                sockaddr_storage ss{};
                socklen_t sl = sizeof ss;
                int fd = accept4(lfd, reinterpret_cast<sockaddr *>(&ss), &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
                if (fd < 0)
                    break;
                Conn c;
                c.fd = fd;
                c.peer = peer_name(ss);
                c.deadline = now + wit.timeout;
                conns.push_back(std::move(c));
                if (conns.size() >= kMaxConnections)
                    break;
            }
        }
        for (std::size_t i = 0; i < polled && n > 0; i++) {
            Conn &c = conns[i];
            short re = pfds[i + 1].revents;
            if (re == 0)
                continue;
            if ((re & POLLIN) && c.draining) {
                char buf[16384];
                ssize_t r = recv(c.fd, buf, sizeof buf, 0);
                if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR))
                    c.deadline = 0;  // the client closed: done
                continue;
            }
            if (re & POLLIN) {
                char buf[16384];
                ssize_t r = recv(c.fd, buf, sizeof buf, 0);
                if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
                    c.close_after_write = true;
                    c.out.clear();
                    c.in.clear();
                    c.deadline = 0;  // gone: drop below
                    continue;
                }
                if (r > 0) {
                    if (c.in.empty() && c.out.empty())
                        c.deadline = now + wit.timeout;  // a new request starts its clock
                    c.in.append(buf, static_cast<std::size_t>(r));
                    if (c.in.size() > w::kMaxRequestHead + w::kMaxRequestBody + 1) {
                        c.out = response(413, "text/plain; charset=utf-8", "the request is too large\n", true);
                        c.close_after_write = true;
                        c.in.clear();
                    } else {
                        serve_input(wit, c, now);
                    }
                }
            } else if (re & (POLLERR | POLLHUP | POLLNVAL)) {
                c.out.clear();
                c.close_after_write = true;
                c.deadline = 0;
            }
            if ((re & POLLOUT) && !c.out.empty()) {
                ssize_t s = send(c.fd, c.out.data(), c.out.size(), MSG_NOSIGNAL);
                if (s > 0)
                    c.out.erase(0, static_cast<std::size_t>(s));
                else if (s < 0 && errno != EAGAIN && errno != EINTR) {
                    c.out.clear();
                    c.close_after_write = true;
                    c.deadline = 0;
                }
                if (c.out.empty() && !c.close_after_write && !c.in.empty())
                    serve_input(wit, c, now);  // a pipelined request waiting behind the answer
            }
        }
        // Drop finished, broken and timed-out connections (a request still incomplete at its
        // deadline gets a 408 on a best-effort write, then is closed).
        for (std::size_t i = 0; i < conns.size();) {
            Conn &c = conns[i];
            bool done = c.close_after_write && c.out.empty() && (c.draining ? now >= c.deadline : c.deadline == 0);
            if (!done && now >= c.deadline) {
                if (!c.in.empty() && !c.draining && !c.close_after_write) {
                    log_line("%s 408: the request did not arrive within %ld s", c.peer.c_str(), wit.timeout);
                    std::string r = response(408, "text/plain; charset=utf-8", "request timeout\n", true);
                    (void)send(c.fd, r.data(), r.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
                }
                done = true;
            }
            if (done) {
                close(c.fd);
                conns.erase(conns.begin() + static_cast<std::ptrdiff_t>(i));
            } else {
                i++;
            }
        }
    }
    for (Conn &c : conns)
        close(c.fd);
}

[[noreturn]] void usage()
{
    std::fputs("usage: forgea_audit_witness --name NAME --key KEY.pem --state FILE [--init] --log VKEY [--log VKEY...]\n"
               "                            [--listen ADDRESS:PORT] [--timeout SECONDS]\n"
               "       forgea_audit_witness --name NAME --key KEY.pem --print-vkey\n"
               "  Serves C2SP tlog-witness POST /add-checkpoint (plain HTTP; TLS from a proxy in front).\n"
               "  --name      the witness's name (a schema-less URL, e.g. witness.example.edu/forgea)\n"
               "  --key       its Ed25519 private key (PEM: openssl genpkey -algorithm ed25519)\n"
               "  --state     the file holding the latest cosigned size and root per log; --init creates\n"
               "              it empty if it does not exist (without --init a missing file is an error)\n"
               "  --log       a log it accepts: the log's C2SP verifier key <origin>+<key id>+<key>\n"
               "  --listen    default 127.0.0.1:8620; --timeout per request, default 10 s\n"
               "  --print-vkey  print the witness's own verifier key (type 0x04) and exit\n",
               stderr);
    std::exit(kExitBadInput);
}

}  // namespace

int main(int argc, char **argv)
{
    Witness wit;
    std::string key_path, state_path, listen_spec = "127.0.0.1:8620";
    std::vector<std::string> vkeys;
    bool print_vkey = false, init = false;
    for (int i = 1; i < argc; i++) {
        std::string a = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc)
                usage();
            return argv[++i];
        };
        if (a == "--name")
            wit.name = value();
        else if (a == "--key")
            key_path = value();
        else if (a == "--state")
            state_path = value();
        else if (a == "--log")
            vkeys.push_back(value());
        else if (a == "--listen")
            listen_spec = value();
        else if (a == "--timeout") {
            std::string v = value();
            char *end = nullptr;
            wit.timeout = std::strtol(v.c_str(), &end, 10);
            if (*end != '\0' || wit.timeout < 1 || wit.timeout > 3600)
                usage();
        } else if (a == "--print-vkey")
            print_vkey = true;
        else if (a == "--init")
            init = true;
        else
            usage();
    }
    if (wit.name.empty() || key_path.empty())
        usage();
    core::Sha256 h;
    {
        w::Vkey probe;
        std::uint8_t zero[32] = {};
        std::string v = w::format_vkey(wit.name, w::kTypeCosignatureV1, zero, h);
        if (w::parse_vkey(v, &probe, h) != nullptr)
            fail("--name \"%s\": a witness name is non-empty and has no '+', space or control character",
                 wit.name.c_str());
    }
    char err[512];
    if (!core::load_ed25519_pem(key_path.c_str(), &wit.key, err, sizeof err))
        fail("--key: %s", err);
    if (!wit.key.has_private)
        fail("--key %s holds a public key: the witness signs, it needs its private key", key_path.c_str());
    wit.key_id = w::key_id(wit.name, w::kTypeCosignatureV1, wit.key.public_key, h);
    if (print_vkey) {
        std::printf("%s\n", w::format_vkey(wit.name, w::kTypeCosignatureV1, wit.key.public_key, h).c_str());
        return 0;
    }
    if (state_path.empty() || vkeys.empty())
        usage();
    for (const std::string &vk : vkeys) {
        w::Vkey v;
        if (const char *why = w::parse_vkey(vk, &v, h))
            fail("--log %s: %s", vk.c_str(), why);
        if (v.type != w::kTypeEd25519)
            fail("--log %s: a log's key has type 0x01 (Ed25519 note signatures)", vk.c_str());
        wit.logs[v.name].push_back(v);
    }

    wit.sf.path = state_path;
    std::size_t slash = state_path.rfind('/');
    wit.sf.dir = slash == std::string::npos ? "." : slash == 0 ? "/" : state_path.substr(0, slash);
    wit.sf.tmp = state_path + ".tmp";
    wit.sf.dir_fd = open(wit.sf.dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (wit.sf.dir_fd < 0)
        fail("cannot open the state file's directory %s: %s", wit.sf.dir.c_str(), std::strerror(errno));
    std::string lock_path = state_path + ".lock";
    int lock_fd = open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (lock_fd < 0 || flock(lock_fd, LOCK_EX | LOCK_NB) != 0)
        fail("cannot lock %s (%s): another witness process uses this state", lock_path.c_str(),
             lock_fd < 0 ? std::strerror(errno) : "it is locked");
    if (!read_state(wit.sf, &wit.state)) {
        if (!init)
            fail("the state file %s does not exist: give --init to start a new witness (a witness that lost its "
                 "state would cosign a fork)", state_path.c_str());
        std::string e;
        if (!write_state(wit.sf, wit.state, &e))
            fail("%s", e.c_str());
    }
    int lfd = listen_on(listen_spec);
    struct sigaction sa{};
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, nullptr);
    sigaction(SIGINT, &sa, nullptr);
    std::signal(SIGPIPE, SIG_IGN);
    log_line("witness %s listening on %s, %zu log(s), state %s (%zu log(s) cosigned before)",
             w::format_vkey(wit.name, w::kTypeCosignatureV1, wit.key.public_key, h).c_str(), listen_spec.c_str(),
             wit.logs.size(), state_path.c_str(), wit.state.size());
    serve(wit, lfd);
    log_line("stopped");
    return 0;
}
