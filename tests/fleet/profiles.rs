//! What each fleet profile puts into a host's overlay: the `/etc/os-release` its real OS ships
//! and the platform-command shims (from `tests/shims/`) that make it look like that OS.
//! Windows hosts get a `powershell` shim and its canned cmdlet outputs instead.

use super::Profile;

/// A file a profile writes into the host's overlay: absolute path, contents, mode.
pub(super) struct ProfileFile {
    pub path: &'static str,
    pub contents: &'static [u8],
    pub mode: u32,
}

/// Paths a profile hides from the host (overlay whiteouts): they read as absent.
pub(super) fn hidden(profile: Profile) -> &'static [&'static str] {
    match profile {
        // macOS has no os-release at all.
        Profile::Macos => &["/etc/os-release", "/usr/lib/os-release"],
        Profile::Windows => &["/etc/os-release", "/usr/lib/os-release"],
        _ => &[],
    }
}

/// Inventory host vars a profile's hosts carry: `(name, YAML value)`.
pub(super) fn inventory_vars(profile: Profile) -> &'static [(&'static str, &'static str)] {
    match profile {
        // As Ansible's Windows-over-OpenSSH inventories say it.
        Profile::Windows => &[("ansible_shell_type", "powershell")],
        _ => &[],
    }
}

// The Windows profile keeps the canned cmdlet outputs its `powershell` shim prints in
// /usr/local/share/muster-windows (`<kind>.out`, optional `<kind>.rc`, see
// tests/shims/windows/powershell); a test replaces one with `HostSpec::file`.

pub(super) fn files(profile: Profile) -> Vec<ProfileFile> {
    let os_release = |contents: &'static str| ProfileFile {
        path: "/etc/os-release",
        contents: contents.as_bytes(),
        mode: 0o644,
    };
    let shim = |path: &'static str, contents: &'static [u8]| ProfileFile {
        path,
        contents,
        mode: 0o755,
    };
    match profile {
        Profile::Debian => vec![os_release(DEBIAN_12)],
        Profile::Ubuntu => vec![os_release(UBUNTU_2404)],
        Profile::Rhel => vec![os_release(RHEL_94)],
        Profile::Alpine => vec![os_release(ALPINE_320)],
        Profile::Macos => vec![
            shim(
                "/usr/local/sbin/sw_vers",
                include_bytes!("../shims/macos/sw_vers"),
            ),
            shim(
                "/usr/local/sbin/uname",
                include_bytes!("../shims/macos/uname"),
            ),
        ],
        Profile::Windows => {
            let data = |name: &'static str, contents: &'static [u8]| ProfileFile {
                path: name,
                contents,
                mode: 0o644,
            };
            macro_rules! win {
                ($f:literal) => {
                    data(
                        concat!("/usr/local/share/muster-windows/", $f),
                        include_bytes!(concat!("../shims/windows/", $f)),
                    )
                };
            }
            vec![
                shim(
                    "/usr/local/sbin/powershell",
                    include_bytes!("../shims/windows/powershell"),
                ),
                win!("facts.json"),
                win!("bitlocker.out"),
                win!("manage_bde.out"),
                win!("firewall.out"),
                win!("wu_pending.out"),
                win!("wu_last.out"),
                win!("wu_reboot.out"),
                win!("wu_auto.out"),
                win!("inactivity.out"),
                win!("secureboot.out"),
                win!("uninstall.out"),
            ]
        }
    }
}

const DEBIAN_12: &str = r#"PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
HOME_URL="https://www.debian.org/"
SUPPORT_URL="https://www.debian.org/support"
BUG_REPORT_URL="https://bugs.debian.org/"
"#;

const UBUNTU_2404: &str = r#"PRETTY_NAME="Ubuntu 24.04 LTS"
NAME="Ubuntu"
VERSION_ID="24.04"
VERSION="24.04 LTS (Noble Numbat)"
VERSION_CODENAME=noble
ID=ubuntu
ID_LIKE=debian
HOME_URL="https://www.ubuntu.com/"
SUPPORT_URL="https://help.ubuntu.com/"
BUG_REPORT_URL="https://bugs.launchpad.net/ubuntu/"
PRIVACY_POLICY_URL="https://www.ubuntu.com/legal/terms-and-policies/privacy-policy"
UBUNTU_CODENAME=noble
LOGO=ubuntu-logo
"#;

const RHEL_94: &str = r#"NAME="Red Hat Enterprise Linux"
VERSION="9.4 (Plow)"
ID="rhel"
ID_LIKE="fedora"
VERSION_ID="9.4"
PLATFORM_ID="platform:el9"
PRETTY_NAME="Red Hat Enterprise Linux 9.4 (Plow)"
ANSI_COLOR="0;31"
LOGO="fedora-logo-icon"
CPE_NAME="cpe:/o:redhat:enterprise_linux:9::baseos"
HOME_URL="https://www.redhat.com/"
DOCUMENTATION_URL="https://access.redhat.com/documentation/en-us/red_hat_enterprise_linux/9"
BUG_REPORT_URL="https://issues.redhat.com/"

REDHAT_BUGZILLA_PRODUCT="Red Hat Enterprise Linux 9"
REDHAT_BUGZILLA_PRODUCT_VERSION=9.4
REDHAT_SUPPORT_PRODUCT="Red Hat Enterprise Linux"
REDHAT_SUPPORT_PRODUCT_VERSION="9.4"
"#;

const ALPINE_320: &str = r#"NAME="Alpine Linux"
ID=alpine
VERSION_ID=3.20.0
PRETTY_NAME="Alpine Linux v3.20"
HOME_URL="https://alpinelinux.org/"
BUG_REPORT_URL="https://gitlab.alpinelinux.org/alpine/aports/-/issues"
"#;
