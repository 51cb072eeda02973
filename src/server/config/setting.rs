//! The `settings!` macro: each setting of `meshkv serve` declared once (name, type, default,
//! help, flag, environment variable), and [`Setting`], the description the docs are made from.
//!
//! One invocation declares one subsystem's settings and expands to:
//!
//! - `XSettings`: the flags and their environment variables (`#[derive(clap::Args)]`, every
//!   field `Option`: clap fills what was given, flag over environment). The same struct holds
//!   the config file's values once parsed, so precedence is `or`, field by field.
//! - `XFile`: the config file's fields as TOML writes them (`#[derive(serde::Deserialize)]`);
//!   `from_file` parses them with errors naming the field (`discovery.group`).
//! - `XValues`: every setting resolved, the declared default where none was given;
//!   `XSettings::layered(file)` is flags and environment over the file over the defaults.
//! - `XSettings::declared()`: the [`Setting`] rows the docs table is rendered from; `--help`
//!   shows the same default (`[default: ...]`, rendered from the default value itself).
//!
//! Why a macro around the derives rather than the derives alone: clap's `default_value` would
//! make every flag look given (the file must win over a default, never over a flag), so the
//! default stays in the declaration and only its text reaches the help; the file writes
//! addresses and durations as TOML strings parsed with our messages, so its struct is not
//! clap's typed one; and serde's `flatten` (one file struct made of the subsystems') loses the
//! positions that name a bad field, so each subsystem reads the document itself (`file.rs`).
//! The macro writes those structs from one declaration; clap and serde still do the parsing.

/// One declared setting: its names and the text `--help` and the docs show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting {
    /// The config file's field: `listen`, or `discovery.ttl` for the `[discovery]` table.
    pub file: &'static str,
    /// The flag, without its dashes (`listen`).
    pub flag: &'static str,
    /// The environment variable (`MESHKV_LISTEN`).
    pub env: &'static str,
    /// The default as shown: a value as written (`127.0.0.1:7070`) or words (`none: off`).
    pub default: String,
    /// Whether `default` is a value as written (the docs show it as code) rather than words.
    pub literal: bool,
    /// What it does: the declaration's doc comment, as one paragraph.
    pub help: String,
}

impl Setting {
    /// A row from the macro's parts: `shown` is the default's text and whether it is a value.
    pub fn new(
        file: &'static str,
        flag: &'static str,
        env: &'static str,
        shown: (String, bool),
        doc: &str,
    ) -> Setting {
        Setting {
            file,
            flag,
            env,
            default: shown.0,
            literal: shown.1,
            help: one_paragraph(doc),
        }
    }
}

/// Doc comment lines as one paragraph.
pub fn one_paragraph(doc: &str) -> String {
    doc.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The help clap shows: the doc comment and `[default: ...]`.
pub fn help_line(doc: &str, default: &str) -> String {
    format!("{} [default: {default}]", one_paragraph(doc))
}

/// The shown default: the `shown` text of the declaration, else the default value rendered.
macro_rules! shown_default {
    ($layer:ty, $default:expr, $shown:expr) => {
        (::std::string::ToString::to_string(&$shown), false)
    };
    ($layer:ty, $default:expr,) => {
        (
            <$layer as $crate::server::config::value::Value>::show(&$default),
            true,
        )
    };
}

/// The resolved type: the declared one after `=>`, else the flag's type.
macro_rules! resolved_ty {
    ($layer:ty) => {
        $layer
    };
    ($layer:ty => $resolved:ty) => {
        $resolved
    };
}

/// Declares one subsystem's settings; see the module docs for what it expands to.
///
/// ```text
/// settings! {
///     /// Doc of the subsystem.
///     #[settings(heading = "Help heading", table = "" or "discovery.",
///                values = XValues, file = XFile [, deny_unknown_fields])]
///     pub struct XSettings {
///         /// Help text (one paragraph).
///         #[setting(flag = "flag-name", env = "MESHKV_NAME", value_name = "N"
///                   [, shown = "words for a default that is not a value"])]
///         file_field: FlagType [=> ResolvedType] = default_expression;
///     }
/// }
/// ```
///
/// A list's `FlagType` is `Vec<Item>`; a setting whose default is "unset" resolves to
/// `Option<FlagType>` with `= None` and a `shown` text.
macro_rules! settings {
    (
        $(#[doc = $struct_doc:literal])+
        #[settings(
            heading = $heading:literal,
            table = $table:literal,
            values = $Values:ident,
            file = $File:ident
            $(, $strict:ident)?
        )]
        pub struct $Settings:ident {
            $(
                $(#[doc = $doc:literal])+
                #[setting(
                    flag = $flag:literal,
                    env = $env:literal,
                    value_name = $value_name:literal
                    $(, shown = $shown:expr)?
                )]
                $name:ident: $layer:ty $(=> $resolved:ty)? = $default:expr;
            )+
        }
    ) => {
        $(#[doc = $struct_doc])+
        ///
        /// Every field is `None` unless given: by a flag or its environment variable (clap), or
        /// by the config file (parsed).
        #[derive(Debug, Clone, Default, clap::Args)]
        #[command(next_help_heading = $heading)]
        pub struct $Settings {
            $(
                $(#[doc = $doc])+
                #[arg(
                    long = $flag,
                    env = $env,
                    value_name = $value_name,
                    value_parser = <$layer as $crate::server::config::value::Value>::parser(),
                    num_args = <$layer as $crate::server::config::value::Value>::num_args(),
                    default_missing_value =
                        <$layer as $crate::server::config::value::Value>::MISSING,
                    value_delimiter = <$layer as $crate::server::config::value::Value>::DELIMITER,
                    help = $crate::server::config::setting::help_line(
                        concat!($($doc, "\n"),+),
                        &$crate::server::config::setting::shown_default!(
                            $layer, $default, $($shown)?
                        ).0,
                    ),
                    long_help = None::<&'static str>,
                )]
                pub $name: Option<$layer>,
            )+
        }

        #[doc = concat!(
            "[`", stringify!($Settings), "`] resolved: each setting as given, else its default."
        )]
        #[derive(Debug, Clone)]
        pub struct $Values {
            $(
                $(#[doc = $doc])+
                pub $name: $crate::server::config::setting::resolved_ty!($layer $(=> $resolved)?),
            )+
        }

        #[doc = concat!(
            "The config file's fields of [`", stringify!($Settings), "`], as TOML writes them."
        )]
        #[derive(Debug, Default, serde::Deserialize)]
        #[serde(default $(, $strict)?)]
        pub(super) struct $File {
            $(
                $name: Option<<$layer as $crate::server::config::value::Value>::File>,
            )+
        }

        impl $Settings {
            /// The declarations, in order: the rows of the docs table.
            pub fn declared() -> Vec<$crate::server::config::setting::Setting> {
                vec![$(
                    $crate::server::config::setting::Setting::new(
                        concat!($table, stringify!($name)),
                        $flag,
                        $env,
                        $crate::server::config::setting::shown_default!(
                            $layer, $default, $($shown)?
                        ),
                        concat!($($doc, "\n"),+),
                    ),
                )+]
            }

            /// Each setting of `self`, else of `lower`: `flags.or(file)` is the precedence.
            pub fn or(self, lower: Self) -> Self {
                Self {
                    $($name: self.$name.or(lower.$name),)+
                }
            }

            /// Every setting, its declared default where it was not given.
            #[allow(clippy::useless_conversion)]
            pub fn resolve(self) -> $Values {
                $Values {
                    $($name: self.$name.map_or_else(|| $default, Into::into),)+
                }
            }

            /// The file's values, parsed; a bad one is an error naming its field.
            fn from_file(
                file: $File,
            ) -> Result<Self, $crate::server::config::ConfigError> {
                Ok(Self {
                    $($name: match file.$name {
                        None => None,
                        Some(raw) => Some(
                            <$layer as $crate::server::config::value::Value>::from_file(raw)
                                .map_err(|problem| $crate::server::config::ConfigError {
                                    field: concat!($table, stringify!($name)).to_string(),
                                    problem,
                                })?,
                        ),
                    },)+
                })
            }

            /// These settings (flags and environment) over the file's, over the defaults.
            pub(super) fn layered(
                &self,
                file: $File,
            ) -> Result<$Values, $crate::server::config::ConfigError> {
                Ok(self.clone().or(Self::from_file(file)?).resolve())
            }
        }
    };
}

pub(crate) use {resolved_ty, settings, shown_default};
