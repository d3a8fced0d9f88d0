//! The field names of each generated response shape — connections, their edges, `PageInfo`
//! and chart series — declared once. The schema registers every word, the planner binds them
//! and the JSON writer writes what was bound; each matches on the enum, so a new word is a
//! compile error until all three handle it.

/// An enum of field names with its list (`ALL`), its spelling (`name`) and its parse.
macro_rules! words {
    ($(#[$doc:meta])* $ty:ident { $($(#[$vdoc:meta])* $v:ident = $s:literal),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum $ty { $($(#[$vdoc])* $v),* }
        impl $ty {
            pub const ALL: &'static [$ty] = &[$($ty::$v),*];
            pub fn name(self) -> &'static str {
                match self { $($ty::$v => $s),* }
            }
            pub fn parse(name: &str) -> Option<$ty> {
                match name { $($s => Some($ty::$v),)* _ => None }
            }
        }
    };
}

words!(
    /// The fields of a `…Connection`.
    ConnectionWord { Nodes = "nodes", Edges = "edges", PageInfo = "pageInfo", TotalCount = "totalCount" }
);

words!(
    /// The fields of an `…Edge`.
    EdgeWord { Cursor = "cursor", Node = "node" }
);

words!(
    /// The fields of `PageInfo`.
    PageInfoWord {
        HasNextPage = "hasNextPage",
        HasPreviousPage = "hasPreviousPage",
        StartCursor = "startCursor",
        EndCursor = "endCursor",
    }
);

words!(
    /// The columns of a chart series (`ohlcvSeries`, `candleSeries` and their `numbers`), in
    /// the order of a bucket's values.
    SeriesColumn { Open = "o", High = "h", Low = "l", Close = "c", Volume = "v" }
);

words!(
    /// The other fields of a chart series.
    SeriesWord { Time = "t", Numbers = "numbers", NoData = "noData", NextTime = "nextTime" }
);

impl SeriesColumn {
    /// Where the column is in a bucket's values.
    pub fn index(self) -> usize {
        self as usize
    }
}

/// The type of `PageInfo`.
pub const PAGE_INFO: &str = "PageInfo";

/// The connection type of the rows of type `type_name`.
pub fn connection_type(type_name: &str) -> String {
    format!("{type_name}Connection")
}

/// The edge type of the rows of type `type_name`.
pub fn edge_type(type_name: &str) -> String {
    format!("{type_name}Edge")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_parse_as_they_are_spelled() {
        for w in ConnectionWord::ALL {
            assert_eq!(ConnectionWord::parse(w.name()), Some(*w));
        }
        for (i, c) in SeriesColumn::ALL.iter().enumerate() {
            assert_eq!(c.index(), i);
            assert_eq!(SeriesColumn::parse(c.name()), Some(*c));
        }
        assert_eq!(PageInfoWord::parse("hasNextPage"), Some(PageInfoWord::HasNextPage));
        assert_eq!(EdgeWord::parse("nodes"), None);
    }
}
