import { BookList } from "./components/BookList.js";

const books = [
  { title: "Dune", author: "Frank Herbert", price: 9.99 },
  { title: "The Pragmatic Programmer", author: "Andrew Hunt", price: 39.95 },
];

document.getElementById("app").innerHTML = BookList(books);
