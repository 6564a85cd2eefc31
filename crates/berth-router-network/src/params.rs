//! Query parameters and bodies of the network endpoints, read with dockerd's rules. Every
//! rejection is a 400 naming the problem.

use berth_api::network::{parse_go_bool, validate_list_filters, validate_prune_filters};
use berth_api::{Error, Filters};
use berth_backend::NetworkInspectOptions;
use berth_http::Form;
use serde::de::DeserializeOwned;

/// `filters` of `GET /networks`.
pub(crate) fn list_filters(form: &Form) -> Result<Filters, Error> {
    let filters = Filters::parse(form.get("filters"))?;
    validate_list_filters(&filters)?;
    Ok(filters)
}

/// `filters` of `POST /networks/prune`.
pub(crate) fn prune_filters(form: &Form) -> Result<Filters, Error> {
    let filters = Filters::parse(form.get("filters"))?;
    validate_prune_filters(&filters)?;
    Ok(filters)
}

/// `verbose` (a Go `strconv.ParseBool`, absent or empty is false) and `scope` of
/// `GET /networks/{id}`.
pub(crate) fn inspect_options(form: &Form) -> Result<NetworkInspectOptions, Error> {
    let verbose = match form.get("verbose") {
        "" => false,
        value => parse_go_bool(value).ok_or_else(|| {
            Error::invalid(format!(
                "invalid value for verbose: {value}: strconv.ParseBool: parsing {value:?}: \
                 invalid syntax"
            ))
        })?,
    };
    let scope = Some(form.get("scope")).filter(|s| !s.is_empty()).map(str::to_owned);
    Ok(NetworkInspectOptions { verbose, scope })
}

/// A JSON body already read as a value: `null` (an empty body) is `T::default()`; otherwise it
/// is decoded as Go would (`null` members keep their zero value, unknown ones are ignored), and
/// a mismatch is dockerd's 400 `invalid JSON: ...`.
pub(crate) fn body<T: DeserializeOwned + Default>(value: serde_json::Value) -> Result<T, Error> {
    if value.is_null() {
        return Ok(T::default());
    }
    berth_api::container::decode_body(value)
        .map_err(|err| Error::invalid(format!("invalid JSON: {}", err.message())))
}
