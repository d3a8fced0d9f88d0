// A small Relay app's data needs, colocated as its components would hold them: a ticker row
// (refetchable by its global id), and a paginated list of rows (a @connection).
import { graphql } from 'relay-runtime';

export const TickerRow = graphql`
  fragment app_TickerRow on Ticker @refetchable(queryName: "TickerRowRefetchQuery") {
    id
    rowId
    ticker
    name
    stockDetails {
      id
      sector
    }
  }
`;

export const TickerList = graphql`
  fragment app_TickerList on Query
  @refetchable(queryName: "TickerListPaginationQuery")
  @argumentDefinitions(count: { type: "Int", defaultValue: 2 }, cursor: { type: "String" }) {
    tickers(first: $count, after: $cursor, where: { region: { eq: "KR" } }, orderBy: [{ ticker: ASC }])
      @connection(key: "app_tickers") {
      edges {
        node {
          id
          ...app_TickerRow
        }
      }
    }
  }
`;

export const AppQuery = graphql`
  query appQuery {
    ...app_TickerList
  }
`;
