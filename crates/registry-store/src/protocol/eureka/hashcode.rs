//! `apps__hashcode`: instance counts per status, as Eureka clients recompute it.
//!
//! Java and Python clients apply a delta, recompute this string over their local copy and fall back
//! to a full fetch when it differs from the server's, so it must match byte for byte (spec §5.4):
//! count instances per status, sort the status *names*, concatenate `NAME_count_`.

use super::wire::Status;

/// The hashcode of a registry whose instances have `statuses`: `DOWN_1_UP_3_`; `""` when empty.
pub fn apps_hashcode(statuses: impl IntoIterator<Item = Status>) -> String {
    let mut counts = [0usize; Status::ALL.len()];
    for status in statuses {
        counts[slot(status)] += 1;
    }
    let mut present: Vec<(&'static str, usize)> = Status::ALL
        .iter()
        .map(|&status| (status.as_str(), counts[slot(status)]))
        .filter(|&(_, count)| count > 0)
        .collect();
    present.sort_unstable_by_key(|&(name, _)| name);
    present.iter().map(|(name, count)| format!("{name}_{count}_")).collect()
}

/// Where `status` is counted (its index in `Status::ALL`).
fn slot(status: Status) -> usize {
    match status {
        Status::Up => 0,
        Status::Down => 1,
        Status::Starting => 2,
        Status::OutOfService => 3,
        Status::Unknown => 4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repeat(status: Status, count: usize) -> impl Iterator<Item = Status> {
        vec![status; count].into_iter()
    }

    #[test]
    fn empty_registry_is_empty_string() {
        assert_eq!(apps_hashcode([]), "");
    }

    #[test]
    fn single_status() {
        assert_eq!(apps_hashcode([Status::Up, Status::Up]), "UP_2_");
    }

    #[test]
    fn statuses_sorted_by_name() {
        let statuses = [Status::Up, Status::Down, Status::Up, Status::Up];
        assert_eq!(apps_hashcode(statuses), "DOWN_1_UP_3_");
    }

    #[test]
    fn underscore_names_sort_as_text() {
        let statuses = repeat(Status::Up, 5)
            .chain(repeat(Status::Starting, 2))
            .chain(repeat(Status::OutOfService, 1));
        assert_eq!(apps_hashcode(statuses), "OUT_OF_SERVICE_1_STARTING_2_UP_5_");
    }

    #[test]
    fn all_statuses_in_name_order() {
        assert_eq!(
            apps_hashcode(Status::ALL),
            "DOWN_1_OUT_OF_SERVICE_1_STARTING_1_UNKNOWN_1_UP_1_"
        );
    }

    #[test]
    fn slots_match_all_order() {
        for (index, status) in Status::ALL.iter().enumerate() {
            assert_eq!(slot(*status), index);
        }
    }
}
