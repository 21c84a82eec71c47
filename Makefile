# disclosured: the two commands a new machine needs are `make run` and `make test`.
# Both install the Debian/Ubuntu packages they need first (as root, or through sudo).

CARGO   ?= cargo
BIN     := target/release/disclosured
# Build: bindgen needs libclang; sequoia's crypto backends: OpenSSL (libssl-dev) and
# Nettle (nettle-dev), one chosen by a cargo feature (BENCHMARKS.md, "Crypto backend");
# both are installed so that either builds.
BUILD_DEBS := libclang-dev libssl-dev nettle-dev pkg-config gcc
# Tests: GnuPG is the independent OpenPGP implementation the tests check against;
# Dovecot is the IMAP server and aiosmtpd the SMTP server they run on 127.0.0.1;
# python3-venv holds the PyPI validators (tests/validators/).
TEST_DEBS  := gnupg gpg-agent dovecot-imapd python3 python3-aiosmtpd python3-venv openssl

.PHONY: all build run test bench fuzz check fmt clippy deps test-deps test-validators clean install uninstall

all: build

build: deps
	$(CARGO) build --release --locked

# Runs the daemon on the built-in default configuration (config/disclosured.toml):
# inbox var/inbox, outgoing mail var/outbox, store var/state, keys in keys/.
run: build
	$(BIN) serve

test: deps test-deps test-validators
	$(CARGO) test --locked

# Installation for systemd (README.md, "Install"). PREFIX and DESTDIR are honoured;
# the unit's paths are rewritten to match. The configuration goes to
# $(SYSCONFDIR)/disclosured/disclosured.toml only when there is none, so an upgrade
# never overwrites it.
PREFIX      ?= /usr/local
BINDIR      ?= $(PREFIX)/bin
UNITDIR     ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
DOCDIR      ?= $(PREFIX)/share/doc/disclosured
MANDIR      ?= $(PREFIX)/share/man
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
ZSHCOMPDIR  ?= $(PREFIX)/share/zsh/site-functions
FISHCOMPDIR ?= $(PREFIX)/share/fish/vendor_completions.d
SYSCONFDIR  ?= /etc
CONFDIR     := $(SYSCONFDIR)/disclosured

# Needs no cargo once the binary is built: `make build` as yourself, then
# `sudo make install` (sudo's PATH has no cargo; issue 18). With no binary it builds one
# when cargo is there, else says what to do.
install:
	@if [ ! -x $(BIN) ]; then \
	  if command -v $(CARGO) >/dev/null 2>&1; then $(MAKE) --no-print-directory build || exit 1; \
	  else echo "$(BIN) is not built and cargo is not in this PATH: run \`make build\` as your user first, then \`sudo make install\`"; exit 1; fi; \
	fi
	@if [ -n "$$(find src Cargo.toml Cargo.lock -newer $(BIN) 2>/dev/null | head -n 1)" ]; then \
	  echo "warning: $(BIN) is older than the sources: run \`make build\` again to install the current version"; \
	fi
	install -D -m 0755 $(BIN) $(DESTDIR)$(BINDIR)/disclosured
	install -d -m 0755 $(DESTDIR)$(UNITDIR)
	sed -e 's|/usr/local/bin/|$(BINDIR)/|g' \
	    -e 's|/usr/local/share/doc/disclosured|$(DOCDIR)|g' \
	    -e 's|/etc/disclosured|$(CONFDIR)|g' \
	    systemd/disclosured.service > $(DESTDIR)$(UNITDIR)/disclosured.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/disclosured.service
	install -D -m 0644 systemd/sysusers.d/disclosured.conf $(DESTDIR)$(SYSUSERSDIR)/disclosured.conf
	install -D -m 0644 README.md $(DESTDIR)$(DOCDIR)/README.md
	install -m 0644 CHANGELOG.md SECURITY.md LICENSE-APACHE LICENSE-MIT $(DESTDIR)$(DOCDIR)/
	if [ -d docs ]; then install -d -m 0755 $(DESTDIR)$(DOCDIR)/docs && install -m 0644 docs/*.md $(DESTDIR)$(DOCDIR)/docs/; fi
	# Man pages and shell completions, written by the binary itself.
	install -d -m 0755 $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(BASHCOMPDIR) $(DESTDIR)$(ZSHCOMPDIR) $(DESTDIR)$(FISHCOMPDIR)
	$(BIN) manpages $(DESTDIR)$(MANDIR)/man1 >/dev/null
	chmod 0644 $(DESTDIR)$(MANDIR)/man1/disclosured*.1
	$(BIN) completions bash > $(DESTDIR)$(BASHCOMPDIR)/disclosured
	$(BIN) completions zsh > $(DESTDIR)$(ZSHCOMPDIR)/_disclosured
	$(BIN) completions fish > $(DESTDIR)$(FISHCOMPDIR)/disclosured.fish
	chmod 0644 $(DESTDIR)$(BASHCOMPDIR)/disclosured $(DESTDIR)$(ZSHCOMPDIR)/_disclosured $(DESTDIR)$(FISHCOMPDIR)/disclosured.fish
	install -m 0644 config/disclosured.toml config/systemd.toml $(DESTDIR)$(DOCDIR)/
	install -d -m 0755 $(DESTDIR)$(CONFDIR)
	install -d -m 0700 $(DESTDIR)$(CONFDIR)/credentials
	@if [ -e $(DESTDIR)$(CONFDIR)/disclosured.toml ]; then \
	  echo "kept the existing $(DESTDIR)$(CONFDIR)/disclosured.toml (the example is $(DOCDIR)/systemd.toml)"; \
	else \
	  echo "install -m 0644 config/systemd.toml $(DESTDIR)$(CONFDIR)/disclosured.toml"; \
	  install -m 0644 config/systemd.toml $(DESTDIR)$(CONFDIR)/disclosured.toml; \
	fi
	@echo "Next: edit $(CONFDIR)/disclosured.toml, put passwords in $(CONFDIR)/credentials/,"
	@echo "then: systemd-sysusers && systemctl daemon-reload && systemctl enable --now disclosured"

# Leaves the configuration, the credentials and the state (keys, reports) in place.
uninstall:
	rm -f $(DESTDIR)$(BINDIR)/disclosured $(DESTDIR)$(UNITDIR)/disclosured.service \
	  $(DESTDIR)$(SYSUSERSDIR)/disclosured.conf $(DESTDIR)$(MANDIR)/man1/disclosured*.1 \
	  $(DESTDIR)$(BASHCOMPDIR)/disclosured $(DESTDIR)$(ZSHCOMPDIR)/_disclosured \
	  $(DESTDIR)$(FISHCOMPDIR)/disclosured.fish
	rm -rf $(DESTDIR)$(DOCDIR)

# Benchmarks (not part of `make test`); figures go to BENCHMARKS.md.
bench: deps test-deps
	$(CARGO) bench --locked --bench imap_latency -- 200
	$(CARGO) bench --locked --bench backlog -- 1000 cv25519
	$(CARGO) bench --locked --bench backlog -- 1000 rsa4096
	$(CARGO) bench --locked --bench crypto_ops -- 200 cv25519 3
	$(CARGO) bench --locked --bench crypto_ops -- 50 rsa4096 3
	$(CARGO) bench --locked --bench large_message -- 25 3
	$(CARGO) bench --locked --bench store_scale -- 100000 5

# Fuzzing with cargo-fuzz (libFuzzer): each target runs FUZZ_SECONDS, starting from
# the seeds in fuzz/seeds/ plus what earlier runs found (fuzz/corpus/, not committed).
# cargo-fuzz needs nightly features; RUSTC_BOOTSTRAP lets the stable toolchain use them.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS := intake openpgp extract config
fuzz: deps
	@command -v cargo-fuzz >/dev/null 2>&1 || $(CARGO) install cargo-fuzz --locked
	@for t in $(FUZZ_TARGETS); do \
	  mkdir -p fuzz/corpus/$$t; \
	  echo "== fuzz target $$t for $(FUZZ_SECONDS)s"; \
	  RUSTC_BOOTSTRAP=1 $(CARGO) fuzz run $$t fuzz/corpus/$$t fuzz/seeds/$$t -- \
	    -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=2048 -timeout=30 || exit 1; \
	done

# What CI checks besides the tests.
check: test
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --locked --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

clippy: deps
	$(CARGO) clippy --locked --all-targets -- -D warnings

deps:
	@$(MAKE) --no-print-directory install-debs DEBS="$(BUILD_DEBS)"
	@command -v $(CARGO) >/dev/null 2>&1 || { \
	  echo "The Rust toolchain (cargo) is missing. Install it with rustup (https://rustup.rs)"; \
	  echo "or your distribution's rustup package, then run make again."; exit 1; }

test-deps:
	@$(MAKE) --no-print-directory install-debs DEBS="$(TEST_DEBS)"

# The independent validators some tests run on what the gateway publishes and exports
# (security.txt, OSV, CSAF, CVE records), from PyPI and the npm registry into a cache
# under target/validators: one script per validator in tests/validators/install-*.sh,
# each a no-op when its validator is already there. `make run` never needs them.
test-validators:
	@for f in tests/validators/install-*.sh; do [ -e "$$f" ] || continue; sh "$$f" target/validators || exit 1; done

# Installs the packages in DEBS that are missing: as root directly, else through
# passwordless sudo; otherwise prints the exact command and stops.
install-debs:
	@missing=""; \
	if ! command -v dpkg-query >/dev/null 2>&1; then \
	  echo "Not a Debian/Ubuntu system: install the equivalents of: $(DEBS)"; exit 0; fi; \
	for p in $(DEBS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	echo "Installing missing packages:$$missing"; \
	if [ "$$(id -u)" = 0 ]; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then \
	  sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	else \
	  echo "Cannot install them without root. Run:"; \
	  echo "  sudo apt-get install -y$$missing"; \
	  exit 1; \
	fi

clean:
	$(CARGO) clean
